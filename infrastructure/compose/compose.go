// Package compose checks compose.yaml without a Docker engine: the file parses, every
// dependency names a service that exists and has a health check, every long-running service
// is health-checked, and every variable it reads from .env is documented in .env.example.
package compose

import (
	"fmt"
	"os"
	"regexp"
	"sort"

	"gopkg.in/yaml.v3"
)

// File is the part of a compose file that is checked.
type File struct {
	Services map[string]Service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

// Service is one compose service.
type Service struct {
	Image       string                `yaml:"image"`
	Build       *Build                `yaml:"build"`
	Healthcheck *Healthcheck          `yaml:"healthcheck"`
	DependsOn   map[string]Dependency `yaml:"depends_on"`
	Volumes     []string              `yaml:"volumes"`
}

// Build is a service's build section.
type Build struct {
	Context string            `yaml:"context"`
	Args    map[string]string `yaml:"args"`
}

// Healthcheck is a service's health check.
type Healthcheck struct {
	Test []string `yaml:"test"`
}

// Dependency is one depends_on entry in its long form.
type Dependency struct {
	Condition string `yaml:"condition"`
}

var variable = regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)`)

// Check returns every problem found in the compose file at path, with documented the names
// of the variables .env.example documents.
func Check(path string, documented map[string]bool) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var problems []string
	if len(f.Services) == 0 {
		problems = append(problems, "no services")
	}
	for name, svc := range f.Services {
		if svc.Image == "" && svc.Build == nil {
			problems = append(problems, name+": neither image nor build")
		}
		if svc.Build != nil && svc.Build.Args["SERVICE"] != name {
			problems = append(problems, fmt.Sprintf("%s: build arg SERVICE=%q, want %q", name, svc.Build.Args["SERVICE"], name))
		}
		for dep, d := range svc.DependsOn {
			target, ok := f.Services[dep]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s: depends on unknown service %q", name, dep))
			case d.Condition != "service_healthy":
				problems = append(problems, fmt.Sprintf("%s: depends on %s without condition service_healthy", name, dep))
			case target.Healthcheck == nil || len(target.Healthcheck.Test) == 0:
				problems = append(problems, fmt.Sprintf("%s: waits for %s to be healthy, but %s has no health check", name, dep, dep))
			}
		}
		if name != "nats-box" && (svc.Healthcheck == nil || len(svc.Healthcheck.Test) == 0) {
			problems = append(problems, name+": no health check")
		}
		for _, v := range svc.Volumes {
			if vol, _, ok := cut(v); ok && vol[0] != '.' && vol[0] != '/' {
				if _, declared := f.Volumes[vol]; !declared {
					problems = append(problems, fmt.Sprintf("%s: volume %q is not declared", name, vol))
				}
			}
		}
	}
	for _, m := range variable.FindAllStringSubmatch(string(raw), -1) {
		if !documented[m[1]] {
			problems = append(problems, fmt.Sprintf("variable %s is used but not documented in .env.example", m[1]))
		}
	}
	sort.Strings(problems)
	return problems, nil
}

// EnvExampleNames returns the variable names set or shown (commented out) in an .env file.
func EnvExampleNames(path string) (map[string]bool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#?\s*([A-Z_][A-Z0-9_]*)=`).FindAllStringSubmatch(string(raw), -1) {
		names[m[1]] = true
	}
	return names, nil
}

func cut(volume string) (string, string, bool) {
	for i := range len(volume) {
		if volume[i] == ':' {
			return volume[:i], volume[i+1:], i > 0
		}
	}
	return "", "", false
}
