package torch

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"medzoo/internal/files"
)

// notTorchScriptFix is what to do with a model file that is not
// TorchScript, for every such message.
const notTorchScriptFix = "zoo runs only TorchScript: for a medigan package run `zoo import ID`; for your own generator export it with scripts/export_generator.py (torch.jit.script or torch.jit.trace, then torch.jit.save)"

// checkModuleFile refuses what LibTorch must not be handed: a path that is
// not a regular file (LibTorch would block on a FIFO forever) or an empty
// file.
func checkModuleFile(p string) error {
	if err := files.CheckReadable(p); err != nil {
		return fmt.Errorf("TorchScript module %s: %w", p, unwrapPath(err))
	}
	st, err := os.Stat(p)
	if err == nil && st.Size() == 0 {
		return fmt.Errorf("%s is empty (0 bytes), not a TorchScript module: the download or export did not finish; fetch or export it again", p)
	}
	return nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(interface{ Unwrap() error }); ok && pe.Unwrap() != nil {
		return pe.Unwrap()
	}
	return err
}

// explainLoadError says what a file LibTorch could not load is, when the
// file shows it: LibTorch's own words ("PytorchStreamReader failed locating
// file constants.pkl") name a missing archive member, not the mistake.
// It returns "" when the file looks like TorchScript (then LibTorch's
// message stands).
func explainLoadError(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Sprintf("%s is %d bytes, too short to be a TorchScript module (truncated?); %s", p, st.Size(), notTorchScriptFix)
	}
	switch {
	case bytes.Equal(head, []byte("PK\x03\x04")):
	case head[0] == 0x80 && head[1] <= 5:
		return fmt.Sprintf("%s is a Python pickle in torch.save's legacy format, not a TorchScript module; %s", p, notTorchScriptFix)
	default:
		return fmt.Sprintf("%s is not a TorchScript module (not a zip archive: random bytes or another format); %s", p, notTorchScriptFix)
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return fmt.Sprintf("%s is truncated or corrupt (its zip directory is unreadable: %v); fetch or export it again", p, err)
	}
	var hasCode, hasConstants bool
	var dataPkl *zip.File
	for _, e := range zr.File {
		parts := strings.Split(e.Name, "/")
		switch {
		case len(parts) >= 2 && parts[1] == "code":
			hasCode = true
		case path.Base(e.Name) == "constants.pkl":
			hasConstants = true
		case len(parts) == 2 && parts[1] == "data.pkl":
			dataPkl = e
		}
	}
	if hasCode && hasConstants {
		return ""
	}
	if dataPkl != nil {
		if isStateDict(dataPkl) {
			return fmt.Sprintf("%s is a PyTorch state dict (torch.save(model.state_dict()): weights without the code that uses them), not a TorchScript module; %s", p, notTorchScriptFix)
		}
		return fmt.Sprintf("%s is a pickled Python object (torch.save(model)), not a TorchScript module: running it would mean running its Python code; %s", p, notTorchScriptFix)
	}
	return fmt.Sprintf("%s is a zip archive but not a TorchScript module (no code/ and constants.pkl inside); %s", p, notTorchScriptFix)
}

// isStateDict reports whether a torch.save pickle holds a dict at its top,
// which is what state_dict() (an OrderedDict) or a checkpoint (a dict of
// them) is: the first opcode after PROTO is GLOBAL collections.OrderedDict
// or EMPTY_DICT. A pickled module starts with the GLOBAL of its class.
func isStateDict(e *zip.File) bool {
	r, err := e.Open()
	if err != nil {
		return false
	}
	defer r.Close()
	head := make([]byte, 64)
	n, _ := io.ReadFull(r, head)
	head = head[:n]
	if len(head) >= 2 && head[0] == 0x80 {
		head = head[2:] // PROTO n
	}
	return bytes.HasPrefix(head, []byte("ccollections\nOrderedDict\n")) || bytes.HasPrefix(head, []byte("}"))
}
