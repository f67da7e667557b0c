package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgresURL is the URL of a server's maintenance database on 127.0.0.1:port.
func PostgresURL(port int, database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", port, database)
}

// PingPostgres reports whether a PostgreSQL server answers at url.
func PingPostgres(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// PostgresBinDir finds the directory holding initdb and postgres: on PATH, or in Debian's
// /usr/lib/postgresql/<version>/bin (the newest version wins).
func PostgresBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL is not installed: install it (Debian/Ubuntu: apt-get install postgresql) or set DATABASE_URL")
}

// StartPostgres runs a private PostgreSQL server with its data in dir, listening on
// 127.0.0.1:port only, creating the cluster on first use. As root it runs the server as
// the "postgres" user, since PostgreSQL refuses to run as root. The server's log goes to log.
func StartPostgres(ctx context.Context, dir string, port int, log io.Writer) (*Process, error) {
	bin, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	var runAs *user.User
	if os.Geteuid() == 0 {
		if runAs, err = user.Lookup("postgres"); err != nil {
			return nil, errors.New("running as root, and PostgreSQL refuses to: create a 'postgres' user (apt-get install postgresql does) or set DATABASE_URL")
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		if err := initCluster(ctx, bin, dir, runAs, log); err != nil {
			return nil, err
		}
	}
	p, err := start(spec{
		name: "postgres",
		path: filepath.Join(bin, "postgres"),
		args: []string{"-D", dir, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
			"-c", "unix_socket_directories=" + dir, "-c", "fsync=on"},
		out:    log,
		asUser: runAs,
	})
	if err != nil {
		return nil, err
	}
	url := PostgresURL(port, "postgres")
	if err := waitFor(ctx, 30*time.Second, p, func(ctx context.Context) error { return PingPostgres(ctx, url) }); err != nil {
		_ = p.Stop(syscall.SIGINT, 10*time.Second)
		return nil, fmt.Errorf("private PostgreSQL on port %d did not start (see its log): %w", port, err)
	}
	return p, nil
}

func initCluster(ctx context.Context, bin, dir string, runAs *user.User, log io.Writer) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("postgres data dir: %w", err)
	}
	if runAs != nil {
		if err := chown(dir, runAs); err != nil {
			return fmt.Errorf("postgres data dir: %w", err)
		}
	}
	p, err := start(spec{
		name:   "initdb",
		path:   filepath.Join(bin, "initdb"),
		args:   []string{"-D", dir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-instructions"},
		out:    log,
		asUser: runAs,
	})
	if err != nil {
		return err
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		_ = p.Stop(syscall.SIGTERM, time.Second)
		return ctx.Err()
	}
	if p.Err() != nil {
		return fmt.Errorf("initdb %s failed (is every parent directory readable by the postgres user?): %w", dir, p.Err())
	}
	return nil
}

// EnsureDatabase creates the database named in url when it does not exist yet, connecting
// to the same server's "postgres" database to do so.
func EnsureDatabase(ctx context.Context, rawURL string) error {
	err := PingPostgres(ctx, rawURL)
	var pgErr *pgconn.PgError
	if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	name := u.Path[1:]
	u.Path = "/postgres"
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		var dup *pgconn.PgError
		if errors.As(err, &dup) && dup.Code == "42P04" { // created meanwhile by someone else
			return nil
		}
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// waitFor polls ready until it succeeds, the child exits, or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, p *Process, ready func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("%s exited: %v", p.Name, p.Err())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}
