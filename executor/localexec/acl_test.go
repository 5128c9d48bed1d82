package localexec

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestACLRoundTrip(t *testing.T) {
	es := []aclEntry{{aclUserObj, 7, aclUndefID}, {aclGroupObj, 5, aclUndefID}, {aclGroup, 1, 900000000}, {aclMask, 5, aclUndefID}, {aclOther, 0, aclUndefID}}
	got, err := parseACL(encodeACL(es))
	if err != nil || !reflect.DeepEqual(got, es) {
		t.Errorf("parse(encode) = %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, {2, 0, 0, 0, 1}, {1, 0, 0, 0}} {
		if _, err := parseACL(bad); err == nil {
			t.Errorf("parseACL(%v): no error", bad)
		}
	}
}

func FuzzParseACL(f *testing.F) {
	f.Add(encodeACL([]aclEntry{{aclUserObj, 7, aclUndefID}, {aclOther, 0, aclUndefID}}))
	f.Add([]byte{2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := parseACL(b)
		if err == nil && string(encodeACL(es)) != string(b) {
			t.Errorf("encode(parse(%x)) differs", b)
		}
	})
}

// TestGrantGroupSearch: the grant makes the group able to search, keeps
// the owning group's effective rights and is idempotent.
func TestGrantGroupSearch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	const gid = 900000000
	fi, _ := os.Stat(dir)
	if groupMaySearch(dir, fi, gid) {
		t.Fatal("searchable before the grant")
	}
	for range 2 {
		fi, _ = os.Stat(dir)
		if err := grantGroupSearch(dir, fi, gid); err != nil {
			// The sandbox needs ACLs where a data directory's parent is
			// private: CI requires them.
			if os.Getenv("ATELIER_REQUIRE_SANDBOX") != "" {
				t.Fatalf("no POSIX ACLs on this filesystem: %v", err)
			}
			t.Skipf("no POSIX ACLs on this filesystem: %v", err)
		}
	}
	fi, _ = os.Stat(dir)
	if !groupMaySearch(dir, fi, gid) {
		t.Error("not searchable after the grant")
	}
	es, err := readACL(dir, fi.Mode())
	if err != nil {
		t.Fatal(err)
	}
	want := []aclEntry{{aclUserObj, 7, aclUndefID}, {aclGroupObj, 5, aclUndefID}, {aclGroup, 1, gid}, {aclMask, 5, aclUndefID}, {aclOther, 0, aclUndefID}}
	if !reflect.DeepEqual(es, want) {
		t.Errorf("ACL = %+v, want %+v", es, want)
	}
}
