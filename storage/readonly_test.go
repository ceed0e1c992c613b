package storage_test

import (
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/conexor/conexor/internal/pgtest"
	"github.com/conexor/conexor/storage"
)

// roHelperEnv, when set, makes TestOpenSQLiteUnwritableDirectory the child process that
// opens the database named by it as an unprivileged user and prints the error.
const roHelperEnv = "CONEXOR_TEST_RO_HELPER_DB"

// TestOpenSQLiteUnwritableDirectory: a database in an empty directory this user cannot
// write fails at start-up with a message that names the path and the missing permission;
// SQLite's own said "no such file or directory" (issue 12 item 5). Root may write anywhere,
// so as root the check runs in a copy of this test binary started as nobody.
func TestOpenSQLiteUnwritableDirectory(t *testing.T) {
	if db := os.Getenv(roHelperEnv); db != "" {
		_, err := storage.Open(context.Background(), "sqlite://"+db)
		if err == nil {
			t.Fatal("Open succeeded")
		}
		os.Stdout.WriteString("OPEN ERROR: " + err.Error() + "\n")
		return
	}
	// The helper, started as nobody, must reach the directory: a private TMPDIR would not do.
	parent := ""
	if st, err := os.Stat("/tmp"); err == nil && st.Mode().Perm() == 0o777 {
		parent = "/tmp"
	}
	base, err := os.MkdirTemp(parent, "conexor-ro-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	dir := filepath.Join(base, "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "conexor.db")

	var msg string
	if os.Geteuid() != 0 {
		_, err := storage.Open(context.Background(), "sqlite://"+db)
		if !errors.Is(err, storage.ErrReadOnly) {
			t.Fatalf("Open = %v, want ErrReadOnly", err)
		}
		msg = err.Error()
	} else {
		msg = runAsNobody(t, base, db)
	}
	t.Logf("start-up error: %s", msg)
	want := "cannot write " + db + ": the directory " + dir + " is not writable by this user"
	if !strings.Contains(msg, want) || strings.Contains(msg, "no such file") {
		t.Errorf("error = %q, want it to contain %q", msg, want)
	}
}

// runAsNobody runs this test again as uid/gid 65534 from a copy of the test binary in dir
// and returns what it printed.
func runAsNobody(t *testing.T, dir, db string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "storage.test")
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err == nil {
		_, err = io.Copy(dst, src)
		err = errors.Join(err, dst.Close())
	}
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestOpenSQLiteUnwritableDirectory$", "-test.v")
	cmd.Dir = dir
	cmd.Env = []string{roHelperEnv + "=" + db, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper as nobody: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if m, ok := strings.CutPrefix(line, "OPEN ERROR: "); ok {
			return strings.TrimSpace(m)
		}
	}
	t.Fatalf("helper printed no error:\n%s", out)
	return ""
}

// TestOpenPostgresReadOnly: a Postgres that refuses writes (a hot standby; here
// default_transaction_read_only for the session) fails at start-up with a message that says
// so and what to do.
func TestOpenPostgresReadOnly(t *testing.T) {
	u, err := url.Parse(pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("options", "-c default_transaction_read_only=on")
	u.RawQuery = q.Encode()
	_, err = storage.Open(context.Background(), u.String())
	if !errors.Is(err, storage.ErrReadOnly) || !strings.Contains(err.Error(), "point database_url at the primary") {
		t.Fatalf("Open = %v, want ErrReadOnly naming the primary", err)
	}
}
