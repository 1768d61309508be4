package auth

import (
	"context"
	"encoding/json"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
)

// RequestedBySearchAttribute holds who requested a promotion or rollback.
const RequestedBySearchAttribute = "MloRequestedBy"

// WorkflowRequesters looks up a workflow's MloRequestedBy search attribute through a
// frontend client (the server's internal frontend, so the lookup needs no token).
type WorkflowRequesters struct {
	Client workflowservice.WorkflowServiceClient
}

// RequestedBy implements RequesterLookup for the current run of the workflow id.
func (w *WorkflowRequesters) RequestedBy(ctx context.Context, namespace, workflowID string) (string, error) {
	resp, err := w.Client.DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{
		Namespace: namespace,
		Execution: &commonpb.WorkflowExecution{WorkflowId: workflowID},
	})
	if err != nil {
		return "", err
	}
	p := resp.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[RequestedBySearchAttribute]
	if p == nil {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(p.GetData(), &s); err != nil {
		return "", err
	}
	return s, nil
}
