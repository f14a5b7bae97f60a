package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// recordProblems is the script every document runs first: it records
// Content-Security-Policy violations and uncaught errors into
// window.__problems (as TestBrowserExplorer does), for noProblems.
const recordProblems = `
	window.__problems = [];
	document.addEventListener('securitypolicyviolation', (e) =>
		window.__problems.push('CSP blocked ' + e.violatedDirective + ': ' + (e.blockedURI || e.sample)));
	window.addEventListener('error', (e) => window.__problems.push('error: ' + e.message));
	window.addEventListener('unhandledrejection', (e) => window.__problems.push('unhandled rejection: ' + e.reason));
`

// openBrowser starts headless Chromium on the explorer of ts, recording
// problems from every document's first line on.
func openBrowser(t *testing.T, url string, timeout time.Duration) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the web explorer test needs Debian's chromium at %s (%v); `make test` installs it (or: apt-get install chromium)", chromiumPath, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	if _, err := chromedp.Call(bctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recordProblems}); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	b := &browser{t: t, ctx: bctx}
	b.do("open "+url, chromedp.Navigate(url))
	return b
}

// noProblems fails the test if the page recorded a CSP violation or a
// JavaScript error since the last check, naming the page, and clears the
// record, so that each page answers for its own.
func (b *browser) noProblems(where string) {
	b.t.Helper()
	problems := evalJS[[]string](b, "the problems of "+where, `(window.__problems || ['window.__problems is missing: the recording script did not run']).splice(0)`)
	if len(problems) > 0 {
		b.t.Errorf("%s reported problems:\n%s", where, strings.Join(problems, "\n"))
	}
}

// click clicks an element with real mouse events (a user gesture, which
// the clipboard asks for).
func (b *browser) click(what, css string) {
	b.t.Helper()
	b.do("click "+what, chromedp.ScrollIntoView(chromedp.CSS(css)), chromedp.Click(chromedp.CSS(css)))
}

// apiIDs is the ids of an API search, in order, fetched by the page.
func (b *browser) apiIDs(query string) []string {
	b.t.Helper()
	return evalJS[[]string](b, "the API's order for "+query,
		fmt.Sprintf(`fetch('/api/models?%s').then((r) => r.json()).then((j) => j.results.map((h) => h.id))`, query))
}

// shownIDs waits until the catalog lists the ids want, in that order.
func (b *browser) shownIDs(what string, want []string) {
	b.t.Helper()
	js, _ := json.Marshal(want)
	b.wait(what, fmt.Sprintf(`JSON.stringify([...document.querySelectorAll('#results .result .result-title')]
		.map((a) => decodeURIComponent(a.getAttribute('href').replace('#/model/', '')))) === %q`, js))
}

// loadedImages waits for n loaded images matching css and returns them.
func (b *browser) loadedImages(what, css string, n int) []shown {
	b.t.Helper()
	return waitFor[[]shown](b, what, fmt.Sprintf(`(() => {
		const imgs = [...document.querySelectorAll(%q)];
		if (imgs.length !== %d) return null;
		const out = imgs.map((img) => %s);
		return out.every((x) => x) && out;
	})()`, css, n, pixelsJS))
}

// TestBrowserCatalog drives the catalog page (thumbnails, the rank-by
// control, RUNS badges, each row's metric, the compare selection), the
// model pages (links, BibTeX copy, a conditional model's labelled rows,
// compare-with) and the compare page in a real Chromium, and checks after
// every page that it broke no Content-Security-Policy rule and threw no
// error.
func TestBrowserCatalog(t *testing.T) {
	start := time.Now()
	ts := testServer(t, Options{})
	b := openBrowser(t, ts.URL+"/", 150*time.Second)

	// 1. Catalog: one row per model, thumbnails where the API has one.
	all := b.apiIDs("")
	b.shownIDs("the whole catalog", all)
	type row struct {
		ID, Thumb, Badge, Metric string
		Runs                     bool
		APIRuns                  bool
		APIThumb                 string
	}
	rows := evalJS[[]row](b, "the catalog's rows", `(async () => {
		const api = await (await fetch('/api/models')).json();
		const byID = Object.fromEntries(api.results.map((h) => [h.id, h]));
		return [...document.querySelectorAll('#results .result')].map((li) => {
			const id = decodeURIComponent(li.querySelector('.result-title').getAttribute('href').replace('#/model/', ''));
			const img = li.querySelector('img.thumb');
			const none = li.querySelector('.thumb.none');
			const badge = li.querySelector('.badge.runs');
			return {ID: id, Thumb: img ? img.getAttribute('src') : (none ? 'none:' + none.textContent : ''),
				Badge: badge ? badge.textContent + '|' + getComputedStyle(badge).textTransform : '',
				Metric: (li.querySelector('.row-metric') || {}).textContent || '',
				Runs: !!badge, APIRuns: byID[id].runnable, APIThumb: byID[id].thumbnail || ''};
		});
	})()`)
	runs := 0
	for _, r := range rows {
		if r.Runs != r.APIRuns {
			t.Errorf("%s: RUNS badge %v, but the API says runnable=%v", r.ID, r.Runs, r.APIRuns)
		}
		if r.Runs {
			runs++
			if r.Badge != "runs here|uppercase" {
				t.Errorf("%s's RUNS badge: %q; want “runs here” shown in capitals", r.ID, r.Badge)
			}
		}
		if r.APIThumb != "" && r.Thumb != r.APIThumb {
			t.Errorf("%s: thumbnail %q; want an <img> of %s", r.ID, r.Thumb, r.APIThumb)
		}
		if r.APIThumb == "" && !strings.HasPrefix(r.Thumb, "none:") {
			t.Errorf("%s has no thumbnail, yet its row shows %q; want the placeholder", r.ID, r.Thumb)
		}
	}
	if runs == 0 || runs == len(rows) {
		t.Errorf("%d of %d rows have a RUNS badge; want the runnable ones only", runs, len(rows))
	}
	byID := map[string]row{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	for id, want := range map[string][]string{
		"00001_DCGAN_MMG_CALC_ROI":          {"FID", "self-reported"},
		"00101_DCGAN_MRI_COLIN27_DEMO":      {"FID", "measured"},
		"00104_PIX2PIX_MRI_MASK_TO_T1_DEMO": {"none:needs input"},
	} {
		got := byID[id].Metric
		if strings.HasPrefix(want[0], "none:") {
			got = byID[id].Thumb
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s's row says %q; want %q in it", id, got, w)
			}
		}
	}

	// The thumbnails load lazily, with the model's own pixel size.
	for _, id := range []string{"00101_DCGAN_MRI_COLIN27_DEMO", "00105_WGANGP_CT_HEAD_DEMO"} {
		css := fmt.Sprintf(`#results img.thumb[src="/api/models/%s/thumbnail"]`, id)
		b.do("scroll to "+id+"'s row", chromedp.ScrollIntoView(chromedp.CSS(css)))
		size := waitFor[[]int](b, id+"'s thumbnail loaded", fmt.Sprintf(`(() => {
			const img = document.querySelector(%q);
			return img && img.complete && img.naturalWidth > 0 && [img.naturalWidth, img.naturalHeight, img.width];
		})()`, css))
		m := mustEmbedded(t).Get(id)
		if w, h := m.Signature.Outputs[0].Width, m.Signature.Outputs[0].Height; size[0] != w || size[1] != h || size[2] != 64 {
			t.Errorf("%s's thumbnail is %dx%d shown %d px wide; want the model's %dx%d shown 64 px wide", id, size[0], size[1], size[2], w, h)
		}
	}
	b.noProblems("the catalog page")

	// 2. Rank by: the rows follow the API's order for rank_by and order.
	b.wait("FID in the rank-by control", `[...document.querySelectorAll('#rank-by option')].some((o) => o.value === 'FID')`)
	setSelect := func(id, value string) {
		evalJS[bool](b, "choose "+value+" in #"+id, fmt.Sprintf(`(() => {
			const s = document.getElementById(%q);
			s.value = %q;
			s.dispatchEvent(new Event('change', {bubbles: true}));
			return s.value === %q;
		})()`, id, value, value))
	}
	setSelect("rank-by", "FID")
	byFID := b.apiIDs("rank_by=FID")
	b.shownIDs("the rows ranked by FID", byFID)
	setSelect("order", "desc")
	byFIDDesc := b.apiIDs("rank_by=FID&order=desc")
	b.shownIDs("the rows ranked by FID, largest first", byFIDDesc)
	if byFID[0] == byFIDDesc[0] {
		t.Errorf("FID ascending and descending both start with %s", byFID[0])
	}
	if hash := evalJS[string](b, "the address", `location.hash`); !strings.Contains(hash, "rank_by=FID") || !strings.Contains(hash, "order=desc") {
		t.Errorf("the address is %s; want rank_by=FID and order=desc in it", hash)
	}
	setSelect("rank-by", "KID")
	byKID := b.apiIDs("rank_by=KID&order=desc")
	b.shownIDs("the rows ranked by KID", byKID)
	metrics := evalJS[[]string](b, "the rows' metrics", `[...document.querySelectorAll('#results .row-metric')].map((e) => e.textContent)`)
	if !strings.HasPrefix(metrics[0], "KID ") || !strings.Contains(metrics[len(metrics)-1], "no KID") {
		t.Errorf("ranked by KID, the rows' metrics are %q; want KID values first and “no KID” for the models without one", metrics)
	}
	b.noProblems("the catalog ranked by a metric")

	// 3. Compare from the catalog: tick two models, press Compare.
	setSelect("rank-by", "")
	b.shownIDs("the catalog in relevance order again", all)
	if !evalJS[bool](b, "is #compare disabled", `document.getElementById('compare').disabled`) {
		t.Error("the Compare button is enabled with nothing ticked")
	}
	b.click("00101's checkbox", `.pick[data-id="00101_DCGAN_MRI_COLIN27_DEMO"]`)
	b.click("00105's checkbox", `.pick[data-id="00105_WGANGP_CT_HEAD_DEMO"]`)
	b.click("Compare", `#compare`)
	pair := b.loadedImages("two compare grids", "img.compare-grid", 2)
	hash := evalJS[string](b, "the address", `location.hash`)
	if !strings.Contains(hash, "ids=00101_DCGAN_MRI_COLIN27_DEMO%2C00105_WGANGP_CT_HEAD_DEMO") || !strings.Contains(hash, "seed=0") {
		t.Errorf("Compare went to %s; want both ids and seed=0", hash)
	}
	if pair[0].Pixels == pair[1].Pixels || !strings.Contains(pair[0].Request, "seed=0") || !strings.Contains(pair[1].Request, "seed=0") {
		t.Errorf("compare grids: %+v; want two models' different samples, both with seed 0", pair)
	}
	table := evalJS[string](b, "the compare metrics table", `(() => { const t = document.getElementById('compare-metrics'); return t ? t.textContent : ''; })()`)
	for _, want := range []string{"00101_DCGAN_MRI_COLIN27_DEMO", "00105_WGANGP_CT_HEAD_DEMO", "FID", "measured"} {
		if !strings.Contains(table, want) {
			t.Errorf("the compare metrics table lacks %q: %s", want, table)
		}
	}
	if mixed := evalJS[[]string](b, "the metrics marked ≠", `[...document.querySelectorAll('#compare-metrics .mixed')].map((e) => e.closest('th').firstChild.textContent)`); len(mixed) != 0 {
		t.Errorf("00101 and 00105 share their extractor, yet %q are marked as computed with different ones", mixed)
	}
	b.noProblems("the compare page")

	// The same model twice with the same seed: equal pixels; another seed
	// differs.
	b.visit("#/compare?ids=101,101&seed=7")
	same := b.loadedImages("two grids of 00101, seed 7", "img.compare-grid", 2)
	if same[0].Pixels != same[1].Pixels || !strings.Contains(same[0].Request, "seed=7") {
		t.Errorf("00101 twice with seed 7: %+v; want equal pixels", same)
	}
	if same[0].Pixels == pair[0].Pixels {
		t.Errorf("00101's grid with seed 7 equals the one with seed 0 (%s)", same[0].Pixels)
	}
	b.visit("#/compare?ids=nope,101&seed=7")
	b.wait("the unknown model's column", `(() => { const c = document.getElementById('compare-col-0'); return c && c.textContent.includes('No such model: nope'); })()`)
	b.loadedImages("00101's grid beside the unknown model", "img.compare-grid", 1)
	b.visit("#/compare?ids=101,1&seed=0")
	b.wait("FID marked as incomparable between 00101 and 00001", `(() => {
		const th = [...document.querySelectorAll('#compare-metrics tbody th')].find((th) => th.firstChild.textContent === 'FID');
		return th && th.querySelector('.mixed');
	})()`)
	b.noProblems("the compare page with an unknown model")

	// 4. The model page of a model that does not run here: links.
	b.visit("#/model/00001_DCGAN_MMG_CALC_ROI")
	b.wait("00001's links", `document.getElementById('links-table')`)
	links := evalJS[map[string]string](b, "00001's link hrefs", `({
		doi: document.querySelector('#links a.doi').href,
		zenodo: document.getElementById('zenodo-link').href,
		samples: document.getElementById('medigan-samples').href,
	})`)
	for k, want := range map[string]string{"doi": "https://doi.org/10.5281/zenodo.5187714",
		"zenodo": "https://zenodo.org/record/7031735", "samples": mediganSamples} {
		if links[k] != want {
			t.Errorf("00001's %s link goes to %q; want %q", k, links[k], want)
		}
	}
	b.noProblems("the model page of a model that does not run here")
	b.visit("#/model/00003_CYCLEGAN_MMG_DENSITY_FULL")
	b.wait("00003's DOI link", `document.querySelector('#links a.doi')`)
	if href := evalJS[string](b, "00003's DOI", `document.querySelector('#links a.doi').href`); href != "https://doi.org/10.48550/arXiv.2209.09809" {
		t.Errorf("00003's DOI link is %q; want the catalog's URL as given", href)
	}
	b.noProblems("the model page of an image-to-image medigan model")

	// 5. A runnable model: copy the BibTeX, to the clipboard and then,
	// with no clipboard, to the fallback textarea.
	if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission: &cdpbrowser.PermissionDescriptor{Name: "clipboard-read"}, Setting: cdpbrowser.PermissionSettingGranted, Origin: ts.URL}); err != nil {
		t.Fatalf("granting clipboard-read: %v", err)
	}
	if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission: &cdpbrowser.PermissionDescriptor{Name: "clipboard-write"}, Setting: cdpbrowser.PermissionSettingGranted, Origin: ts.URL}); err != nil {
		t.Fatalf("granting clipboard-write: %v", err)
	}
	if _, err := chromedp.Call(b.ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatalf("focus emulation: %v", err)
	}
	b.visit("#/model/00101_DCGAN_MRI_COLIN27_DEMO")
	bib := waitFor[string](b, "00101's BibTeX", `(() => { const p = document.getElementById('bibtex'); return p && p.textContent; })()`)
	for _, want := range []string{"@misc{zoo:00101_DCGAN_MRI_COLIN27_DEMO,", "author = {{medzoo developers}}", "title = {"} {
		if !strings.Contains(bib, want) {
			t.Errorf("00101's BibTeX lacks %q:\n%s", want, bib)
		}
	}
	b.click("Copy BibTeX", "#copy-bibtex")
	b.wait("the copy button's answer", `document.getElementById('copy-bibtex').textContent !== 'Copy BibTeX'`)
	copied := evalJS[map[string]string](b, "where the BibTeX went", `(async () => {
		const ta = document.getElementById('bibtex-copy');
		return {button: document.getElementById('copy-bibtex').textContent,
			fallback: ta ? ta.value : '', clipboard: ta ? '' : await navigator.clipboard.readText()};
	})()`)
	t.Logf("Copy BibTeX with a clipboard: button %q, to the clipboard %v, to the fallback %v", copied["button"], copied["clipboard"] == bib, copied["fallback"] == bib)
	if copied["button"] != "copied" || (copied["clipboard"] != bib && copied["fallback"] != bib) {
		t.Errorf("after Copy BibTeX: %q; want “copied” and the BibTeX in the clipboard or the fallback textarea", copied)
	}
	evalJS[bool](b, "take the clipboard away", `(() => {
		Object.defineProperty(navigator, 'clipboard', {value: undefined, configurable: true});
		document.getElementById('copy-bibtex').textContent = 'Copy BibTeX';
		return navigator.clipboard === undefined;
	})()`)
	b.click("Copy BibTeX without a clipboard", "#copy-bibtex")
	fallback := waitFor[map[string]string](b, "the fallback textarea", `(() => {
		const ta = document.getElementById('bibtex-copy');
		return ta && {value: ta.value, selected: ta.value.slice(ta.selectionStart, ta.selectionEnd),
			button: document.getElementById('copy-bibtex').textContent};
	})()`)
	if fallback["value"] != bib || fallback["selected"] != bib || (fallback["button"] != "copied" && fallback["button"] != "selected: press Ctrl+C") {
		t.Errorf("without a clipboard: %q; want the BibTeX selected in the textarea and the button saying so", fallback)
	}
	b.noProblems("the model page of a runnable model")

	// Compare from a model page: with the explorer's seed.
	b.wait("the model list of compare-with", `document.querySelector('#compare-with option[value="00105_WGANGP_CT_HEAD_DEMO"]')`)
	evalJS[bool](b, "set the explorer's seed to 5", `(() => { const s = document.getElementById('seed'); s.value = '5'; return true; })()`)
	setSelect("compare-with", "00105_WGANGP_CT_HEAD_DEMO")
	b.click("compare-with's Compare", "#compare-go")
	fromPage := b.loadedImages("the compare grids from 00101's page", "img.compare-grid", 2)
	if !strings.Contains(fromPage[0].Request, "/api/models/00101_DCGAN_MRI_COLIN27_DEMO/") || !strings.Contains(fromPage[1].Request, "/api/models/00105_WGANGP_CT_HEAD_DEMO/") || !strings.Contains(fromPage[1].Request, "seed=5") {
		t.Errorf("compare from 00101's page: %+v; want 00101 and 00105 with the explorer's seed 5", fromPage)
	}
	b.noProblems("the compare page reached from a model page")

	// 6. A conditional model: one labelled row per condition value.
	b.visit("#/model/00102_CDCGAN_MRI_COLIN27_PLANE_DEMO")
	labels := waitFor[[]string](b, "00102's row labels", `(() => {
		const l = [...document.querySelectorAll('#grid-rows .row-label')].map((e) => e.textContent);
		return l.length && l;
	})()`)
	if strings.Join(labels, "|") != "plane = axial|plane = coronal|plane = sagittal" {
		t.Errorf("00102's sample rows are labelled %q; want one per plane", labels)
	}
	grid := b.loadedImages("00102's three rows", "#grid-rows img", 3)
	for i, plane := range []string{"axial", "coronal", "sagittal"} {
		if !strings.Contains(grid[i].Request, "condition=plane%3D"+plane) {
			t.Errorf("row %d (%s) shows %s; want condition=plane=%s", i, labels[i], grid[i].Request, plane)
		}
	}
	if grid[0].Pixels == grid[1].Pixels || grid[1].Pixels == grid[2].Pixels {
		t.Errorf("00102's rows have equal pixels: %+v", grid)
	}
	b.noProblems("the model page of a conditional model")

	// 7. An image-to-image model and no model at all.
	b.visit("#/model/00104_PIX2PIX_MRI_MASK_TO_T1_DEMO")
	b.wait("00104's links", `document.getElementById('bibtex')`)
	b.noProblems("the model page of an image-to-image model")
	b.visit("#/model/nope")
	b.wait("the no-such-model page", `(() => { const l = document.getElementById('loading'); return l && l.textContent === 'No such model.'; })()`)
	b.noProblems("the no-such-model page")
	b.visit("#/compare")
	b.wait("the compare page's note", `document.getElementById('compare-note')`)
	b.noProblems("the compare page without models")
	t.Logf("catalog browser test done in %v", time.Since(start).Round(time.Millisecond))
}
