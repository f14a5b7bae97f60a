package server

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// canvasGray is the red channel of #pixels (gray: all three are equal).
const canvasGray = `(() => {
	const c = document.getElementById('pixels');
	const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
	const out = [];
	for (let i = 0; i < d.length; i += 4) {
		if (d[i] !== d[i + 1] || d[i] !== d[i + 2] || d[i + 3] !== 255) return null;
		out.push(d[i]);
	}
	return out;
})()`

// windowed is viewer.js's gray level of u (JavaScript's Math.round).
func windowed(u, c, w float64) int {
	x := (u - (c - w/2)) / w
	return int(math.Floor(255*min(1, max(0, x)) + 0.5))
}

// wantCanvas checks the canvas against the window formula over units.
func wantCanvas(b *browser, what string, units []float64, c, w float64) []int {
	b.t.Helper()
	got := waitFor[[]int](b, what, fmt.Sprintf(`(() => {
		const c = document.getElementById('pixels');
		return c && c.dataset.window === %q && %s;
	})()`, strconv.FormatFloat(c, 'f', -1, 64)+"/"+strconv.FormatFloat(w, 'f', -1, 64), canvasGray))
	if len(got) != len(units) {
		b.t.Fatalf("%s: the canvas has %d pixels for %d values", what, len(got), len(units))
	}
	for i, u := range units {
		if want := windowed(u, c, w); got[i] != want {
			b.t.Fatalf("%s: pixel %d (value %g) is %d on the canvas; window %g/%g gives %d", what, i, u, got[i], c, w, want)
		}
	}
	return got
}

// TestBrowserViewer drives the explorer's image-to-image inputs and pixel
// viewer in headless Chromium: upload a mask to 00104 through the file
// input, pick an example input, read HU under the mouse on 00105 and
// change its window, checking every canvas pixel against the window
// formula over the raw values the API gives.
func TestBrowserViewer(t *testing.T) {
	ts := testServer(t, Options{})
	b := openBrowser(t, ts.URL+"/#/model/"+id104, 120*time.Second)

	// 1. Upload through the page's file input.
	upload := filepath.Join(t.TempDir(), "upload_mask.png")
	if err := os.WriteFile(upload, mask104(t), 0o644); err != nil {
		t.Fatal(err)
	}
	b.wait("the file input", `document.getElementById('input-file')`)
	if note := evalJS[string](b, "00104's note", `document.getElementById('explorer-note').textContent`); !strings.Contains(note, "--input DIR") {
		t.Errorf("00104's note says %q", note)
	}
	b.do("choose the upload", chromedp.SetUploadFiles(chromedp.ID("input-file"), []string{upload}))
	shownAfter := func(input string) string {
		return waitFor[string](b, "the result for "+input, fmt.Sprintf(`(() => {
			const img = document.getElementById('i2i-result');
			const c = document.getElementById('pixels');
			if (!img || img.dataset.input !== %q || !img.complete || img.naturalWidth < 64) return null;
			if (!c || !c.dataset.sample || !c.dataset.sample.includes(%q)) return null;
			return img.src;
		})()`, input, input))
	}
	shownAfter("upload_mask.png")
	_, h, body := post(t, ts, "/api/models/104/generate?name=upload_mask.png&format=values", mask104(t), nil)
	meta, v := readValues(t, h, body)
	// MR in 12 bits: the canvas starts at the full range, 0..4095.
	units := make([]float64, len(v))
	for i, x := range v {
		units[i] = min(4095, max(0, math.Round((float64(x)-meta.Range[0])/(meta.Range[1]-meta.Range[0])*4095)))
	}
	uploaded := wantCanvas(b, "00104's output of the upload", units, 2047.5, 4095)

	// 2. Pick an example input.
	b.wait("the example list", `document.getElementById('example').dataset.loaded === '8'`)
	evalJS[bool](b, "choose an example", `(() => {
		const s = document.getElementById('example');
		s.value = 'brainmask_sagittal_05.png';
		s.dispatchEvent(new Event('change', {bubbles: true}));
		return true;
	})()`)
	shownAfter("brainmask_sagittal_05.png")
	example := waitFor[[]int](b, "the example's canvas", fmt.Sprintf(`(() => {
		const c = document.getElementById('pixels');
		return c.dataset.sample.includes('brainmask_sagittal_05.png') && %s;
	})()`, canvasGray))
	if fmt.Sprint(example) == fmt.Sprint(uploaded) {
		t.Error("the sagittal example's output shows the same pixels as the axial upload's")
	}

	// 3. 00105: HU under the mouse.
	b.visit("#/model/" + id105)
	meta, v = getValues(t, ts.URL+"/api/models/105/values?seed=0&output=image")
	hu := make([]float64, len(v))
	for i, x := range v {
		hu[i] = meta.Offset + meta.Scale*float64(x)
	}
	b.wait("00105's canvas", `(() => { const c = document.getElementById('pixels'); return c && (c.dataset.sample || '').startsWith('`+id105+` image 0 0'); })()`)
	wantCanvas(b, "00105 at full range", hu, 40, 400)
	for _, p := range [][2]int{{20, 30}, {32, 32}, {5, 60}} {
		x, y := p[0], p[1]
		at := evalJS[[2]float64](b, "where the pixel is", fmt.Sprintf(`(() => {
			const c = document.getElementById('pixels');
			c.scrollIntoView({block: 'center'});
			const r = c.getBoundingClientRect();
			return [r.left + (%d + 0.5) * r.width / c.width, r.top + (%d + 0.5) * r.height / c.height];
		})()`, x, y))
		b.do("move the mouse over the canvas", chromedp.MouseEvent(chromedp.MouseMoved, at[0], at[1]))
		type readout struct{ Text, X, Y, Value string }
		r := waitFor[readout](b, "the readout", fmt.Sprintf(`(() => {
			const r = document.getElementById('pixel-readout');
			return r.dataset.x === '%d' && r.dataset.y === '%d' && {Text: r.textContent, X: r.dataset.x, Y: r.dataset.y, Value: r.dataset.value};
		})()`, x, y))
		want := hu[y*meta.Width+x]
		if got, err := strconv.ParseFloat(r.Value, 64); err != nil || got != want {
			t.Errorf("pixel (%d, %d): the page's value is %s; the raw endpoint's value maps to %v HU", x, y, r.Value, want)
		}
		shown := strings.TrimSuffix(strings.TrimPrefix(r.Text, fmt.Sprintf("x %d, y %d: ", x, y)), " HU")
		if got, err := strconv.ParseFloat(shown, 64); err != nil || math.Abs(got-want) > 0.05+1e-9 || !strings.HasSuffix(r.Text, " HU") {
			t.Errorf("pixel (%d, %d): the readout says %q; want %.1f HU", x, y, r.Text, want)
		}
	}

	// 4. Window/level: a preset, then typed values.
	evalJS[bool](b, "choose the bone window", `(() => {
		const s = document.getElementById('wl-preset');
		s.value = 'bone';
		s.dispatchEvent(new Event('change', {bubbles: true}));
		return true;
	})()`)
	bone := wantCanvas(b, "00105 in the bone window", hu, 400, 1800)
	evalJS[bool](b, "type a window", `(() => {
		for (const [id, v] of [['wl-center', '0'], ['wl-width', '100']]) {
			const e = document.getElementById(id);
			e.value = v;
			e.dispatchEvent(new Event('input', {bubbles: true}));
		}
		return true;
	})()`)
	narrow := wantCanvas(b, "00105 in window 0/100", hu, 0, 100)
	if fmt.Sprint(bone) == fmt.Sprint(narrow) {
		t.Error("the bone window and window 0/100 show the same pixels")
	}
	if p := evalJS[string](b, "the preset", `document.getElementById('wl-preset').value`); p != "custom" {
		t.Errorf("after typing a window the preset says %q; want custom", p)
	}

	b.noProblems("the image-to-image and pixel viewer pages")
}
