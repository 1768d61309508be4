package auth

import (
	"encoding/json"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
)

const (
	encodingKey      = "encoding"
	encodingJSON     = "json/plain"
	encodingNull     = "binary/null"
	identityHeaderID = "mlo-verified-identity"
)

// IdentityHeader is the header mlo's server stamps on decisions (Updates and Signals to
// promotion/rollback workflows): a json/plain payload {"subject": …, "email": …} of the
// verified caller. A value sent by the client is overwritten.
const IdentityHeader = identityHeaderID

// firstArg decodes the first payload of a list as a JSON object. It fails when the payload
// is missing, not json/plain (e.g. encrypted by a codec) or not an object: mlo's rules that
// read fields of an input then refuse, because they cannot check it.
func firstArg(p *commonpb.Payloads) (map[string]any, error) {
	if p == nil || len(p.GetPayloads()) == 0 {
		return nil, fmt.Errorf("no input")
	}
	return decodeObject(p.GetPayloads()[0])
}

func decodeObject(p *commonpb.Payload) (map[string]any, error) {
	enc := string(p.GetMetadata()[encodingKey])
	switch enc {
	case encodingJSON:
	case encodingNull:
		return nil, fmt.Errorf("input is null")
	default:
		return nil, fmt.Errorf("input is encoded as %q, not json/plain", enc)
	}
	var obj map[string]any
	if err := json.Unmarshal(p.GetData(), &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("input is not a JSON object")
	}
	return obj, nil
}

// str returns a string field of an object ("" when absent or not a string).
func str(obj map[string]any, key string) string {
	s, _ := obj[key].(string)
	return s
}

// strList returns a string-array field; ok is false when the field is absent or not an
// array of strings.
func strList(obj map[string]any, key string) ([]string, bool) {
	v, present := obj[key]
	if !present {
		return nil, false
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// jsonPayload encodes v as a json/plain payload.
func jsonPayload(v any) *commonpb.Payload {
	b, _ := json.Marshal(v)
	return &commonpb.Payload{Metadata: map[string][]byte{encodingKey: []byte(encodingJSON)}, Data: b}
}
