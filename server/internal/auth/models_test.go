package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestModelsSeveralDirectories(t *testing.T) {
	deployed, local, missing := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "missing")
	write := func(dir, name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(deployed, "fraud-detector.yaml", "name: fraud-detector\npromotion: { reviewers: [alice@example.com] }\n")
	write(local, "ui-promo.yaml", "name: ui-promo\npromotion: { reviewers: [carol@example.com] }\n")
	// A model defined again in a later directory keeps its first definition.
	write(local, "again.yaml", "name: fraud-detector\npromotion: { reviewers: [mallory@example.com] }\n")
	var problems []string
	m := NewModels(strings.Join([]string{deployed, missing, local}, string(os.PathListSeparator)))
	m.CheckEvery = 0
	m.OnProblem = func(f string, err error) { problems = append(problems, f+": "+err.Error()) }
	if !m.IsReviewer("fraud-detector", "alice@example.com") || m.IsReviewer("fraud-detector", "mallory@example.com") {
		t.Fatal("the first directory's definition must win")
	}
	if !m.IsReviewer("ui-promo", "carol@example.com") {
		t.Fatal("a spec of the second readable directory is not seen")
	}
	if m.Count() != 2 {
		t.Fatalf("count %d", m.Count())
	}
	// The missing directory and the duplicate are reported once each, however often the index is read.
	if len(problems) != 2 || !strings.HasPrefix(problems[0], missing) && !strings.HasPrefix(problems[1], missing) {
		t.Fatalf("problems %v", problems)
	}
	_ = os.Remove(filepath.Join(local, "ui-promo.yaml"))
	if _, ok := m.Reviewers("ui-promo"); ok {
		t.Fatal("removed spec still known")
	}
}
