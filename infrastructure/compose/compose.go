// Package compose checks compose.yaml without a Docker engine: the file parses, every
// dependency names a service that exists and has a health check, every long-running service
// is health-checked, every variable it reads from .env is documented in .env.example, the
// JetStream server syncs every write to disk (as nats-server itself reads its command line
// and configuration), and TRUSTED_PROXIES trusts nothing wider than the compose network.
package compose

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"gopkg.in/yaml.v3"
)

// File is the part of a compose file that is checked.
type File struct {
	Services map[string]Service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
	Networks map[string]Network `yaml:"networks"`
	Configs  map[string]Config  `yaml:"configs"`
}

// Service is one compose service.
type Service struct {
	Image       string                `yaml:"image"`
	Build       *Build                `yaml:"build"`
	Command     []string              `yaml:"command"`
	Environment map[string]string     `yaml:"environment"`
	Configs     []ConfigMount         `yaml:"configs"`
	Healthcheck *Healthcheck          `yaml:"healthcheck"`
	DependsOn   map[string]Dependency `yaml:"depends_on"`
	Volumes     []string              `yaml:"volumes"`
}

// Network is a declared network; its subnets are what TRUSTED_PROXIES may name.
type Network struct {
	IPAM struct {
		Config []struct {
			Subnet string `yaml:"subnet"`
		} `yaml:"config"`
	} `yaml:"ipam"`
}

// Config is a top-level config: inline content (or a file, which is not checked).
type Config struct {
	Content string `yaml:"content"`
	File    string `yaml:"file"`
}

// ConfigMount puts a config into a service's file system.
type ConfigMount struct {
	Source string `yaml:"source"`
	Target string `yaml:"target"`
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
	problems = append(problems, checkJetStream(f)...)
	problems = append(problems, checkTrustedProxies(f)...)
	for _, m := range variable.FindAllStringSubmatch(string(raw), -1) {
		if !documented[m[1]] {
			problems = append(problems, fmt.Sprintf("variable %s is used but not documented in .env.example", m[1]))
		}
	}
	sort.Strings(problems)
	return problems, nil
}

// checkJetStream reads the command line (and the configs it names) of every service running
// the nats image as nats-server would, and requires JetStream with every write synced to disk:
// with the default sync interval, an OS crash lost acknowledged writes in Jepsen's 2025
// analysis of NATS.
func checkJetStream(f File) []string {
	var problems []string
	for name, svc := range f.Services {
		if !strings.HasPrefix(svc.Image, "nats:") {
			continue
		}
		opts, err := natsOptions(svc, f.Configs)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: nats-server would not start: %v", name, err))
		case !opts.JetStream:
			problems = append(problems, name+": JetStream is not enabled")
		case !opts.SyncAlways:
			problems = append(problems, name+": JetStream does not sync every write (set sync_interval: always)")
		}
	}
	return problems
}

// natsOptions parses the service's command line with nats-server's own parser; a config it
// mounts with inline content stands in for the file at its target.
func natsOptions(svc Service, configs map[string]Config) (*natsserver.Options, error) {
	dir, err := os.MkdirTemp("", "compose-nats-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	files := map[string]string{}
	for i, m := range svc.Configs {
		c, ok := configs[m.Source]
		if !ok {
			return nil, fmt.Errorf("config %q is not declared", m.Source)
		}
		if c.Content == "" {
			continue
		}
		path := filepath.Join(dir, fmt.Sprintf("config-%d.conf", i))
		if err := os.WriteFile(path, []byte(c.Content), 0o600); err != nil {
			return nil, err
		}
		files[m.Target] = path
	}
	args := svc.Command
	if len(args) > 0 && args[0] == "nats-server" {
		args = args[1:]
	}
	local := make([]string, len(args))
	for i, a := range args {
		local[i] = a
		if path, ok := files[a]; ok {
			local[i] = path
		}
	}
	fs := flag.NewFlagSet("nats-server", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	noop := func() {}
	natsParser.Lock() // ConfigureOptions sets package variables of nats-server
	defer natsParser.Unlock()
	return natsserver.ConfigureOptions(fs, local, noop, noop, noop)
}

// natsParser makes concurrent checks take turns with nats-server's command-line parser.
var natsParser sync.Mutex

// checkTrustedProxies requires every TRUSTED_PROXIES prefix to lie within a subnet the file
// declares for its networks: a service believes X-Forwarded-For only from its neighbours on
// the compose network, never from the whole internet.
func checkTrustedProxies(f File) []string {
	var subnets []netip.Prefix
	for _, n := range f.Networks {
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil {
				subnets = append(subnets, p.Masked())
			}
		}
	}
	var problems []string
	for name, svc := range f.Services {
		value, ok := svc.Environment["TRUSTED_PROXIES"]
		if !ok {
			continue
		}
		for _, s := range strings.Split(value, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			p, err := netip.ParsePrefix(s)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: TRUSTED_PROXIES: %q is not a CIDR prefix", name, s))
				continue
			}
			within := false
			for _, n := range subnets {
				within = within || (n.Contains(p.Addr()) && p.Bits() >= n.Bits())
			}
			if !within {
				problems = append(problems, fmt.Sprintf("%s: TRUSTED_PROXIES trusts %s, wider than any subnet declared for the compose networks", name, s))
			}
		}
	}
	return problems
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
