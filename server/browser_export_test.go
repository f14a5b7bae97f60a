package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"medzoo/internal/testfiles"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// TestBrowserExport drives the export form in a real headless Chromium:
// a bad n shows the server's reason, an export of a conditional model in
// NIfTI shows its progress to the end, and the zip the page saves (into
// Chromium's download directory, by clicking its link) holds exactly the
// files zoo generate writes; a long export is cancelled from the page.
// No CSP violation or JavaScript error may happen on the way.
func TestBrowserExport(t *testing.T) {
	const id = "00102_CDCGAN_MRI_COLIN27_PLANE_DEMO"
	want := zooGenerate(t, id, "-n", "21", "--seed", "4", "-c", "plane=sagittal", "--format", "nifti")
	ts := testServer(t, Options{})

	b := openBrowser(t, ts.URL+"/#/model/"+id, 120*time.Second)
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatalf("letting Chromium download into %s: %v", downloads, err)
	}
	b.wait("the export form", `document.getElementById('export-form')`)

	fill := func(n, seed, plane, format string) {
		t.Helper()
		evalJS[bool](b, "fill the export form", `(() => {
			const set = (id, v) => {
				const el = document.getElementById(id);
				el.value = v;
				el.dispatchEvent(new Event('input', {bubbles: true}));
				el.dispatchEvent(new Event('change', {bubbles: true}));
			};
			set('export-n', `+jsString(n)+`);
			set('export-seed', `+jsString(seed)+`);
			set('export-condition-plane', `+jsString(plane)+`);
			set('export-format', `+jsString(format)+`);
			return true;
		})()`)
	}

	// 1. An n past the export limit: the server's reason in #error.
	fill("20000", "4", "sagittal", "nifti")
	b.do("press Export", chromedp.Click(chromedp.ID("export-start")))
	msg := waitFor[string](b, "#error for n=20000", `(() => {
		const e = document.getElementById('error');
		return e && !e.hidden && e.textContent;
	})()`)
	if !strings.Contains(msg, `n="20000"`) || !strings.Contains(msg, "max-export-n") {
		t.Errorf("#error says %q for n=20000; want the server's reason naming n and --max-export-n", msg)
	}

	// 2. The export: the page shows the command it equals, counts the
	// files to the end, and saves the zip.
	fill("21", "4", "sagittal", "nifti")
	if cmd := evalJS[string](b, "the command", `document.getElementById('export-command').textContent`); cmd != "zoo generate "+id+" -n 21 --seed 4 -c plane=sagittal --format nifti -o DIR" {
		t.Errorf("the form shows the command %q", cmd)
	}
	b.do("press Export", chromedp.Click(chromedp.ID("export-start")))
	status := waitFor[string](b, "the export's download link", `(() => {
		const a = document.getElementById('export-download');
		return a && !a.hidden && document.getElementById('export-status').textContent;
	})()`)
	if !strings.Contains(status, "done: 23 files (21 samples)") {
		t.Errorf("the status says %q when done; want 23 files of 21 samples", status)
	}
	if p := evalJS[float64](b, "the progress bar", `document.getElementById('export-progress').value`); p != 1 {
		t.Errorf("the progress bar is at %v when done", p)
	}
	if e := evalJS[string](b, "#error", `document.getElementById('error').hidden ? '' : document.getElementById('error').textContent`); e != "" {
		t.Errorf("#error still shows %q after a good export", e)
	}
	b.do("click the save link", chromedp.Click(chromedp.ID("export-download")))
	zipPath := filepath.Join(downloads, id+"_seed4_n21_nifti.zip")
	var (
		data []byte
		err  error
	)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if data, err = os.ReadFile(zipPath); err == nil {
			if _, err := os.Stat(zipPath + ".crdownload"); os.IsNotExist(err) && len(data) > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(downloads)
			t.Fatalf("Chromium saved no %s (the download directory holds %v)", zipPath, entries)
		}
	}
	_, got := testfiles.ReadZip(t, data)
	sameFiles(t, "the zip the page saved", got, want)

	// 3. Cancel: a long export stops on the button, and says so.
	fill("10000", "1", "", "npy")
	b.do("press Export", chromedp.Click(chromedp.ID("export-start")))
	b.wait("some files of the long export", `(() => {
		const s = document.getElementById('export-status').textContent;
		const m = /^(\d+) of 10002 files/.exec(s);
		return m && Number(m[1]) >= 20;
	})()`)
	b.do("press Cancel", chromedp.Click(chromedp.ID("export-cancel")))
	status = waitFor[string](b, "the cancelled status", `(() => {
		const s = document.getElementById('export-status').textContent;
		return s.startsWith('cancelled') && document.getElementById('export-cancel').hidden && s;
	})()`)
	if !strings.Contains(status, "of 10002 files") {
		t.Errorf("the status after cancel says %q", status)
	}
	if e := evalJS[string](b, "#error", `document.getElementById('error').hidden ? '' : document.getElementById('error').textContent`); e != "" {
		t.Errorf("#error shows %q after a cancel; a cancel is no error", e)
	}

	b.noProblems("the model page with its export")
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}
