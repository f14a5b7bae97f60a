package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium; `make test` installs it (test-deps).
const chromiumPath = "/usr/bin/chromium"

// TestBrowserExplorer drives the web explorer in a real headless Chromium
// against the real server and the bundled models: search as you type, open
// a model, move a latent slider, change a condition, see an error. It
// checks what the page shows (the pixels of the explorer image included),
// not the API, which the API tests cover. Set ZOO_UPDATE_SCREENSHOT=1 to
// write the explorer's screenshot to docs/explorer.png.
func TestBrowserExplorer(t *testing.T) {
	start := time.Now()

	ts := testServer(t, Options{})
	all := len(mustEmbedded(t).Models)

	b := openBrowser(t, ts.URL+"/", 90*time.Second)
	t.Logf("browser up and catalog open after %v", time.Since(start).Round(time.Millisecond))

	// 1. Catalog: search as you type.
	b.wait("the catalog's search box", `document.getElementById('search')`)
	b.do("type into #search", chromedp.SendKeys(chromedp.ID("search"), "brain"))
	const link00101 = `#results .result a[href="#/model/00101_DCGAN_MRI_COLIN27_DEMO"]`
	// The catalog lists every model before the search; wait for the
	// results of “brain”.
	result := waitFor[string](b, "a result linking 00101 for “brain”", `(() => {
		const summary = document.getElementById('summary').textContent;
		const a = document.querySelector('`+link00101+`');
		return summary.includes('brain') && a && a.closest('.result').textContent;
	})()`)
	for _, want := range []string{"00101_DCGAN_MRI_COLIN27_DEMO", "runs here", "demo", "64×64", "MRI"} {
		if !strings.Contains(result, want) {
			t.Errorf("the 00101 result says %q; want it to contain %q", result, want)
		}
	}
	if hash := evalJS[string](b, "the address", `location.hash`); !strings.Contains(hash, "q=brain") {
		t.Errorf("after a search the address ends in %s; want the query in it (q=brain)", hash)
	}
	if n := evalJS[int](b, "count the results", `document.querySelectorAll('#results .result').length`); n == 0 || n >= all {
		t.Errorf("“brain” lists %d results; want some, not all %d models", n, all)
	}

	// 2. Model page: title, tables, sample grid, explorer.
	b.do("click the 00101 result", chromedp.Click(chromedp.CSS(link00101)))
	title := waitFor[string](b, "#model-title with DCGAN",
		`(() => { const h = document.getElementById('model-title'); return h && h.textContent.includes('DCGAN') && h.textContent; })()`)
	t.Logf("model page: %s", title)
	tables := evalJS[string](b, "the tables", `document.getElementById('metadata').textContent + ' | ' + document.getElementById('metrics').textContent`)
	for _, want := range []string{"BSD-3-Clause", "bundled://00101_DCGAN_MRI_COLIN27_DEMO.pt", "FID", "measured by zoo"} {
		if !strings.Contains(tables, want) {
			t.Errorf("the metadata and metrics tables lack %q", want)
		}
	}
	labels := evalJS[[]string](b, "the group sliders' labels",
		`[...document.querySelectorAll('.group-slider')].map((s) => s.closest('label').textContent)`)
	if len(labels) != 10 || !strings.HasPrefix(labels[0], "z[0-9]") || !strings.HasPrefix(labels[9], "z[90-99]") {
		t.Errorf("group sliders labelled %q; want 10, z[0-9] to z[90-99]", labels)
	}
	b.wait("the sample grid", `(() => { const g = document.getElementById('grid'); return g && g.complete && g.naturalWidth > 0; })()`)
	before := b.explorerImage("00101_DCGAN_MRI_COLIN27_DEMO", "")

	// Move the first group slider: a new request, a new image.
	evalJS[bool](b, "move the first .group-slider", `(() => {
		const s = document.querySelector('.group-slider');
		s.value = '2.5';
		s.dispatchEvent(new Event('input', {bubbles: true}));
		return true;
	})()`)
	moved := b.explorerImage("00101_DCGAN_MRI_COLIN27_DEMO", before.Request)
	if !strings.Contains(moved.Request, "groups=10") || !strings.Contains(moved.Request, "offsets=2.5%2C0.0%2C") {
		t.Errorf("after moving z[0-9] to 2.5 the request is %s; want groups=10 and offsets=2.5,0.0,...", moved.Request)
	}
	if moved.Src == before.Src {
		t.Errorf("the explorer image's src stayed %s after the slider moved", moved.Src)
	}
	if moved.Pixels == before.Pixels {
		t.Errorf("moving a latent slider left the explorer image's pixels unchanged (%s)", moved.Pixels)
	}

	// 3. A conditional model: the condition select changes the image.
	b.visit("#/model/00102_CDCGAN_MRI_COLIN27_PLANE_DEMO")
	axial := b.explorerImage("00102_CDCGAN_MRI_COLIN27_PLANE_DEMO", "")
	if !strings.Contains(axial.Request, "condition=plane%3Daxial") {
		t.Errorf("00102's first request is %s; want the condition select's first value, plane=axial", axial.Request)
	}
	evalJS[bool](b, "choose sagittal in #condition-plane", `(() => {
		const s = document.getElementById('condition-plane');
		s.value = 'sagittal';
		s.dispatchEvent(new Event('change', {bubbles: true}));
		return true;
	})()`)
	sagittal := b.explorerImage("00102_CDCGAN_MRI_COLIN27_PLANE_DEMO", axial.Request)
	if !strings.Contains(sagittal.Request, "condition=plane%3Dsagittal") {
		t.Errorf("after choosing sagittal the request is %s; want condition=plane%%3Dsagittal", sagittal.Request)
	}
	if sagittal.Pixels == axial.Pixels {
		t.Errorf("plane=sagittal shows the same pixels as plane=axial (%s)", sagittal.Pixels)
	}

	// 4. Image and mask side by side; the screenshot for the README.
	b.visit("#/model/00103_DCGAN_MRI_COLIN27_IMAGE_MASK_DEMO")
	pair := b.explorerImage("00103_DCGAN_MRI_COLIN27_IMAGE_MASK_DEMO", "")
	if pair.Width < 2*pair.Height-8 {
		t.Errorf("00103's explorer image is %dx%d; want image and mask side by side (about twice as wide as high)", pair.Width, pair.Height)
	}
	b.wait("the sample grid", `(() => { const g = document.getElementById('grid'); return g && g.complete && g.naturalWidth > 0; })()`)
	shot := b.screenshot()
	tmp := filepath.Join(t.TempDir(), "explorer.png")
	if err := os.WriteFile(tmp, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the 00103 explorer: %s (%d bytes)", tmp, len(shot))
	if os.Getenv("ZOO_UPDATE_SCREENSHOT") == "1" {
		if err := os.WriteFile(filepath.Join("..", "docs", "explorer.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote ../docs/explorer.png")
	}

	// 5. An image-to-image model has a note, not an explorer.
	b.visit("#/model/00104_PIX2PIX_MRI_MASK_TO_T1_DEMO")
	note := waitFor[string](b, "00104's note", `(() => { const n = document.getElementById('explorer-note'); return n && n.textContent; })()`)
	if !strings.Contains(note, "zoo generate 00104_PIX2PIX_MRI_MASK_TO_T1_DEMO --input DIR") {
		t.Errorf("00104's note says %q; want the zoo generate --input command", note)
	}
	if evalJS[bool](b, "is there an explorer", `!!document.getElementById('explorer')`) {
		t.Error("the image-to-image model 00104 shows the latent explorer")
	}

	// 6. An unknown model: the server's 404 message in #error.
	b.visit("#/model/nope")
	msg := waitFor[string](b, "#error for an unknown model", `(() => {
		const e = document.getElementById('error');
		return e && !e.hidden && e.getAttribute('role') === 'alert' && e.offsetHeight > 0 && e.textContent;
	})()`)
	if !strings.Contains(msg, "nope") && !strings.Contains(msg, "no model") {
		t.Errorf("#error says %q for #/model/nope; want the server's message about nope", msg)
	}

	b.noProblems("the catalog, model pages and the no-such-model page")
	t.Logf("browser test done in %v", time.Since(start).Round(time.Millisecond))
}

// browser is the test's tab.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v%s", what, err, b.pageError())
	}
}

// visit follows an in-app link: it sets the hash, as a click would.
func (b *browser) visit(hash string) {
	b.t.Helper()
	evalJS[bool](b, "go to "+hash, fmt.Sprintf(`(() => { location.hash = %q; return true; })()`, hash))
}

// wait polls a JavaScript expression until it is truthy.
func (b *browser) wait(what, expr string) {
	b.t.Helper()
	waitFor[any](b, what, expr)
}

// pageError is the text of #error, for failure messages.
func (b *browser) pageError() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`(() => { const e = document.getElementById('error'); return e && !e.hidden ? e.textContent : ''; })()`))
	if err != nil || s == "" {
		return ""
	}
	return "; the page's #error says: " + s
}

// evalJS evaluates a JavaScript expression in the page (Runtime.evaluate,
// which the page's CSP does not restrict) and decodes its value.
func evalJS[T any](b *browser, what, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %v%s", what, err, b.pageError())
	}
	return v
}

// waitFor polls expr in the page every 20 ms until it is truthy (at most
// 30 s) and returns its value. The loop runs in the page as one awaited
// promise: chromedp.Poll compiles its predicate with new Function, which
// the page's CSP (no 'unsafe-eval') forbids.
func waitFor[T any](b *browser, what, expr string) T {
	b.t.Helper()
	type result struct {
		V       T
		Timeout bool
	}
	r := evalJS[result](b, "waiting for "+what, `(async () => {
		const deadline = Date.now() + 30000;
		for (;;) {
			const v = await (async () => (`+expr+`))();
			if (v) return {V: v, Timeout: false};
			if (Date.now() > deadline) return {V: null, Timeout: true};
			await new Promise((r) => setTimeout(r, 20));
		}
	})()`)
	if r.Timeout {
		b.t.Fatalf("timed out waiting for %s%s", what, b.pageError())
	}
	return r.V
}

// shown is the explorer image once loaded.
type shown struct {
	Request, Src  string
	Width, Height int
	Pixels        string // size and FNV-1a hash of the decoded RGBA pixels
}

// pixelsJS is an expression that hashes an <img>'s decoded pixels (given
// as img), or is null while it has not loaded.
const pixelsJS = `(() => {
	if (!img || !img.complete || img.naturalWidth === 0 || !img.dataset.request) return null;
	const c = document.createElement('canvas');
	c.width = img.naturalWidth;
	c.height = img.naturalHeight;
	const g = c.getContext('2d');
	g.drawImage(img, 0, 0);
	const d = g.getImageData(0, 0, c.width, c.height).data;
	let h = 2166136261;
	for (let i = 0; i < d.length; i++) { h ^= d[i]; h = Math.imul(h, 16777619); }
	return {Request: img.dataset.request, Src: img.src, Width: c.width, Height: c.height,
		Pixels: c.width + 'x' + c.height + ':' + (h >>> 0).toString(16)};
})()`

// explorerImage waits until #explorer-image shows a loaded image of the
// model whose data-request differs from prev, and returns it.
func (b *browser) explorerImage(model, prev string) shown {
	b.t.Helper()
	return waitFor[shown](b, fmt.Sprintf("#explorer-image of %s (other than %q)", model, prev), fmt.Sprintf(`(() => {
		const img = document.getElementById('explorer-image');
		const req = img && img.dataset.request;
		if (!req || req === %q || !req.includes(%q)) return null;
		return %s;
	})()`, prev, "/api/models/"+model+"/", pixelsJS))
}

// screenshot captures the model page from the top to the end of the
// explorer.
func (b *browser) screenshot() []byte {
	b.t.Helper()
	clip := evalJS[page.Viewport](b, "the explorer's place", `(() => {
		window.scrollTo(0, 0);
		const ex = document.getElementById('explorer').getBoundingClientRect();
		const x = Math.max(0, ex.left - 24), y = 0;
		return {x, y, width: Math.min(document.documentElement.clientWidth - x, ex.width + 48),
			height: ex.bottom + 16 - y, scale: 1};
	})()`)
	r, err := chromedp.Call(b.ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Format: page.CaptureScreenshotFormatPng, Clip: &clip, CaptureBeyondViewport: ptrTo(true), FromSurface: ptrTo(true)})
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	return r.Data
}

func ptrTo[T any](v T) *T { return &v }
