//go:build unix

package files

import "syscall"

// nonBlock keeps the open of a FIFO from blocking until a writer comes.
const nonBlock = syscall.O_NONBLOCK

// noFollow makes an open fail on a symbolic link, atomically with the
// open, so no link can be swapped in between a check and the open.
const noFollow = syscall.O_NOFOLLOW

// checkBeforeOpen: O_NOFOLLOW does the check.
const checkBeforeOpen = false
