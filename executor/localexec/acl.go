package localexec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// POSIX access ACLs as Linux stores them in the system.posix_acl_access
// extended attribute: a little-endian version 2 header, then entries of
// tag (u16), permissions (u16) and id (u32), sorted by tag and id.
const (
	aclXattr    = "system.posix_acl_access"
	aclVersion  = 2
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
	aclMask     = 0x10
	aclOther    = 0x20
	aclExecute  = 1
	aclEntryLen = 8
	aclHeadLen  = 4
	aclUndefID  = ^uint32(0)
)

type aclEntry struct {
	tag  uint16
	perm uint16
	id   uint32
}

// readACL returns path's access ACL, or the one its mode bits mean when
// it has none.
func readACL(path string, mode os.FileMode) ([]aclEntry, error) {
	buf := make([]byte, 512)
	n, err := unix.Getxattr(path, aclXattr, buf)
	if errors.Is(err, unix.ENODATA) {
		m := uint16(mode.Perm())
		return []aclEntry{
			{aclUserObj, m >> 6 & 7, aclUndefID},
			{aclGroupObj, m >> 3 & 7, aclUndefID},
			{aclOther, m & 7, aclUndefID},
		}, nil
	}
	if err != nil {
		return nil, err
	}
	return parseACL(buf[:n])
}

func parseACL(b []byte) ([]aclEntry, error) {
	if len(b) < aclHeadLen || (len(b)-aclHeadLen)%aclEntryLen != 0 || binary.LittleEndian.Uint32(b) != aclVersion {
		return nil, errors.New("malformed ACL")
	}
	var out []aclEntry
	for p := b[aclHeadLen:]; len(p) > 0; p = p[aclEntryLen:] {
		out = append(out, aclEntry{binary.LittleEndian.Uint16(p), binary.LittleEndian.Uint16(p[2:]), binary.LittleEndian.Uint32(p[4:])})
	}
	return out, nil
}

func encodeACL(es []aclEntry) []byte {
	b := binary.LittleEndian.AppendUint32(nil, aclVersion)
	for _, e := range es {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.perm)
		b = binary.LittleEndian.AppendUint32(b, e.id)
	}
	return b
}

// groupMaySearch reports whether group gid may search the directory:
// through the mode's other bits, as its owning group, or through a named
// ACL entry that the mask lets through.
func groupMaySearch(path string, fi os.FileInfo, gid int) bool {
	mode := fi.Mode().Perm()
	if mode&0o001 != 0 {
		return true
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Gid) == gid && mode&0o010 != 0 {
		return true
	}
	es, err := readACL(path, fi.Mode())
	if err != nil {
		return false
	}
	named, mask := false, uint16(7)
	for _, e := range es {
		switch {
		case e.tag == aclGroup && e.id == uint32(gid) && e.perm&aclExecute != 0:
			named = true
		case e.tag == aclMask:
			mask = e.perm
		}
	}
	return named && mask&aclExecute != 0
}

// grantGroupSearch adds "group gid may search" (g:gid:--x) to path's
// access ACL, and execute to its mask, like setfacl -m g:gid:x. No one
// else gains anything: the mask's execute bit only lets named entries
// through, and the owning group's own entry keeps its permissions.
func grantGroupSearch(path string, fi os.FileInfo, gid int) error {
	es, err := readACL(path, fi.Mode())
	if err != nil {
		return err
	}
	found, hasMask := false, false
	groupObj := uint16(0)
	for i := range es {
		switch es[i].tag {
		case aclGroup:
			if es[i].id == uint32(gid) {
				es[i].perm |= aclExecute
				found = true
			}
		case aclMask:
			es[i].perm |= aclExecute
			hasMask = true
		case aclGroupObj:
			groupObj = es[i].perm
		}
	}
	if !found {
		es = append(es, aclEntry{aclGroup, aclExecute, uint32(gid)})
	}
	if !hasMask {
		// Without named entries the group class was the owning group's:
		// the mask keeps that, plus execute for the new entry.
		es = append(es, aclEntry{aclMask, groupObj | aclExecute, aclUndefID})
	}
	slices.SortFunc(es, func(a, b aclEntry) int {
		if a.tag != b.tag {
			return int(a.tag) - int(b.tag)
		}
		return int(int64(a.id) - int64(b.id))
	})
	if err := unix.Setxattr(path, aclXattr, encodeACL(es), 0); err != nil {
		return fmt.Errorf("set the ACL of %s: %w", path, err)
	}
	return nil
}
