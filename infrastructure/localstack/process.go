// Package localstack finds or starts what the system needs on one machine, without Docker:
// PostgreSQL and Valkey (reused when they answer, otherwise started from the machine's own
// binaries under a private data directory), an embedded JetStream server, and the four
// services. `make run` and `make test` both go through it, so tests find their servers the
// same way the running system does.
package localstack

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
	"time"
)

// Process is a child process this package started; only those are ever stopped.
type Process struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the exit status, valid after done is closed
}

// spec describes a child process to start.
type spec struct {
	name   string
	path   string
	args   []string
	env    []string // nil inherits the environment
	dir    string
	out    io.Writer // stdout and stderr
	asUser *user.User
}

// start runs the child in its own process group, so the terminal's Ctrl-C reaches only the
// stack runner, which then stops children in order. The child is also signalled if the
// runner dies without cleaning up.
func start(s spec) (*Process, error) {
	cmd := exec.Command(s.path, s.args...)
	cmd.Env = s.env
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if s.asUser != nil {
		cred, err := credential(s.asUser)
		if err != nil {
			return nil, err
		}
		cmd.SysProcAttr.Credential = cred
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.name, err)
	}
	p := &Process{Name: s.name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the child's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the child has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the child exited; call it after Done is closed.
func (p *Process) Err() error { return p.err }

// Stop sends sig and waits up to grace for the child to exit, then kills it.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s and was killed", p.Name, grace)
	}
}

// credential runs a child as u (PostgreSQL refuses to run as root).
func credential(u *user.User) (*syscall.Credential, error) {
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user %s: %w", u.Username, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// chown gives dir, freshly made and empty, to u.
func chown(dir string, u *user.User) error {
	cred, err := credential(u)
	if err != nil {
		return err
	}
	return os.Chown(dir, int(cred.Uid), int(cred.Gid))
}

// StartProcess starts path with args as a child process named name, in its own process
// group (see start), with env (nil inherits the environment) and its output going to out.
// The fault suite uses it to run each piece of the system as a process it can kill.
func StartProcess(name, path string, args, env []string, out io.Writer) (*Process, error) {
	return start(spec{name: name, path: path, args: args, env: env, out: out})
}

// Signal sends sig to the child; it does nothing once the child has exited.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	return p.cmd.Process.Signal(sig)
}
