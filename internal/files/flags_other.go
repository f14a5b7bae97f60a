//go:build !unix

package files

// Systems without O_NOFOLLOW and O_NONBLOCK (Windows) check the path with
// Lstat before opening it instead: the same refusals, though a link
// swapped in between the check and the open is not caught there.
const (
	nonBlock        = 0
	noFollow        = 0
	checkBeforeOpen = true
)
