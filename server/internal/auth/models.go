package auth

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Models knows each deployed model's reviewers, from the model specs in a directory, or in
// several (Dir separated by the OS's list separator, like PATH; a model defined twice keeps its
// first definition) (*.yaml, *.yml: `name: <model>` and `promotion: { reviewers: [e-mail, …] }`). It rereads
// the directory when a file is added, removed or changed (names, sizes, mtimes), checking at
// most once per CheckEvery.
type Models struct {
	Dir        string
	CheckEvery time.Duration
	// OnProblem is told about a spec that cannot be read (nil: ignored).
	OnProblem func(file string, err error)

	mu        sync.Mutex
	checkedAt time.Time
	stamp     string
	reviewers map[string][]string
	files     map[string]string // model → file
}

// NewModels returns the model index of a directory.
func NewModels(dir string) *Models {
	return &Models{Dir: dir, CheckEvery: time.Second}
}

// StaticModels returns a fixed index (tests).
func StaticModels(reviewers map[string][]string) *Models {
	return &Models{reviewers: reviewers, checkedAt: time.Now().Add(100 * 365 * 24 * time.Hour)}
}

// Reviewers returns the model's reviewers and whether the model has a spec.
func (m *Models) Reviewers(model string) ([]string, bool) {
	if m == nil {
		return nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refresh()
	r, ok := m.reviewers[model]
	return r, ok
}

// IsReviewer reports whether email is one of the model's reviewers.
func (m *Models) IsReviewer(model, email string) bool {
	r, _ := m.Reviewers(model)
	return email != "" && slices.Contains(r, email)
}

// Count is the number of models with a spec.
func (m *Models) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refresh()
	return len(m.reviewers)
}

func (m *Models) refresh() {
	if m.Dir == "" || time.Since(m.checkedAt) < m.CheckEvery {
		return
	}
	m.checkedAt = time.Now()
	files, stamp := m.list()
	if stamp == m.stamp && m.reviewers != nil {
		return
	}
	reviewers := map[string][]string{}
	where := map[string]string{}
	for _, f := range files {
		name, revs, err := readSpec(f)
		if err == nil && name == "" {
			err = fmt.Errorf("no name")
		}
		if err == nil && where[name] != "" {
			err = fmt.Errorf("model %s is also defined in %s; ignored here", name, where[name])
		}
		if err != nil {
			if m.OnProblem != nil {
				m.OnProblem(f, err)
			}
			continue
		}
		reviewers[name], where[name] = revs, f
	}
	m.reviewers, m.files, m.stamp = reviewers, where, stamp
}

// list returns the spec files of every directory in Dir (a list like PATH: directories
// separated by the OS's list separator, ':' on Unix), each directory's files sorted, and a stamp
// of their names, sizes and mtimes (and of the directories it could not read).
func (m *Models) list() ([]string, string) {
	var files []string
	var b strings.Builder
	for _, dir := range filepath.SplitList(m.Dir) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			// An unreadable directory holds no specs; the others still count.
			mark := "!" + dir + "\n"
			if m.OnProblem != nil && !strings.Contains(m.stamp, mark) {
				m.OnProblem(dir, err)
			}
			b.WriteString(mark)
			continue
		}
		var here []string
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || strings.HasPrefix(n, ".") || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue
			}
			p := filepath.Join(dir, n)
			here = append(here, p)
			fmt.Fprintf(&b, "%s|%d|%d\n", p, info.Size(), info.ModTime().UnixNano())
		}
		sort.Strings(here)
		files = append(files, here...)
	}
	return files, b.String()
}

type specReviewers struct {
	Name      string `yaml:"name"`
	Promotion struct {
		Reviewers []string `yaml:"reviewers"`
	} `yaml:"promotion"`
}

func readSpec(file string) (string, []string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", nil, err
	}
	var s specReviewers
	if err := yaml.Unmarshal(b, &s); err != nil {
		return "", nil, err
	}
	var revs []string
	for _, r := range s.Promotion.Reviewers {
		if r = strings.TrimSpace(r); r != "" {
			revs = append(revs, r)
		}
	}
	return strings.TrimSpace(s.Name), revs, nil
}
