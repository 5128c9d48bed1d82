package workload

import "syscall"

// unixNoFollow refuses to open a symbolic link.
const unixNoFollow = syscall.O_NOFOLLOW
