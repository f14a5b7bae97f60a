// zoo serve's explorer: a dependency-free single-page app over the JSON API.
//
// Routes (location.hash):
//   #/            catalog: search box, filters, results (query kept as #/?q=..)
//   #/model/ID    one model: description, metadata, metrics and, for models
//                 that run here, a sample grid and the latent explorer
//   others        added by the scripts that extend this one (hooks below)
//
// Scripts loaded before this one extend it (catalog.js: thumbnails,
// rank-by, citation, compare): each pushes a function onto
// window.zooPlugins, which this file calls once with its helpers and the
// hooks, before the first route.
//
// The Content-Security-Policy allows no inline code or styles, so all
// behaviour lives in the scripts and all looks in the style sheets.
'use strict';

(function () {
  const SEARCH_DEBOUNCE_MS = 200;
  const EXPLORER_DEBOUNCE_MS = 120;
  const GROUPS = 10; // latent slider groups (medigan's visualizer has 10 too)
  const SLIDER_MIN = -3;
  const SLIDER_MAX = 3;
  const SLIDER_STEP = 0.1;
  const MODALITIES = [
    ['', 'any modality'], ['MRI', 'MRI'], ['CT', 'CT'], ['MMG', 'mammography (MMG)'],
    ['x-ray', 'x-ray'], ['endoscopy', 'endoscopy'],
  ];

  const view = document.getElementById('view');
  const errorBox = document.getElementById('error');

  // ---- small helpers -------------------------------------------------

  // h('tag', {attr: value, class: 'x', on: {click: f}}, children...)
  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'on') {
        for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f);
      } else if (k === 'class') {
        e.className = v;
      } else if (k in e && typeof v !== 'string') {
        e[k] = v;
      } else {
        e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    append(e, children);
    return e;
  }

  function append(parent, children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false || c === '') continue;
      parent.append(c instanceof Node ? c : String(c));
    }
  }

  function showError(msg) {
    errorBox.textContent = msg;
    errorBox.hidden = false;
  }

  function clearError() {
    errorBox.textContent = '';
    errorBox.hidden = true;
  }

  // APIError carries the server's {"error": "..."} text.
  class APIError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function failure(res) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && body.error) msg = body.error;
    } catch (_) { /* not JSON: keep the status line */ }
    return new APIError(res.status, msg);
  }

  async function getJSON(url, signal) {
    const res = await fetch(url, {signal, headers: {Accept: 'application/json'}});
    if (!res.ok) throw await failure(res);
    return res.json();
  }

  async function getBlob(url, signal) {
    const res = await fetch(url, {signal});
    if (!res.ok) throw await failure(res);
    return res.blob();
  }

  function isAbort(err) {
    return err && err.name === 'AbortError';
  }

  function report(err) {
    if (!isAbort(err)) showError(err.message || String(err));
  }

  function debounce(f, ms, page) {
    let t = 0;
    const d = (...args) => {
      clearTimeout(t);
      t = setTimeout(() => f(...args), ms);
    };
    page.onLeave(() => clearTimeout(t));
    return d;
  }

  function list(v) {
    if (Array.isArray(v)) return v.filter((x) => x !== '' && x !== null && x !== undefined).join(', ');
    return v === undefined || v === null ? '' : String(v);
  }

  function sizeOf(m) {
    if (!m.width || !m.height) return '';
    return m.depth > 1 ? `${m.width}×${m.height}×${m.depth}` : `${m.width}×${m.height}`;
  }

  function formatNumber(v) {
    if (typeof v !== 'number') return String(v);
    if (Number.isInteger(v)) return String(v);
    return String(Number(v.toPrecision(4)));
  }

  function badges(m) {
    return h('span', {class: 'badges'},
      m.runnable ? h('span', {class: 'badge runs', title: 'runs in zoo on this machine'}, 'runs here') : null,
      m.demo ? h('span', {class: 'badge demo', title: 'demonstration model: not for clinical or research use'}, 'demo') : null);
  }

  // ---- hooks for other scripts -------------------------------------------

  // routes: {pattern, page(page, match, params)}, tried before the built-in
  //   ones.
  // catalog: f({page, params, run}) → {controls, after, query(p), item(li, m),
  //   rendered(res)}, each optional: controls go in the search form, after
  //   below it; query adds to the API query (and the address), item
  //   decorates a result's <li>, rendered runs after each result list.
  // sampleGrid: f(page, m) → a section replacing the model page's sample
  //   grid, or null to leave it.
  // model: f(page, m) → elements appended to the model page.
  const hooks = {routes: [], catalog: [], sampleGrid: [], model: []};

  // ---- routing -------------------------------------------------------

  // A page collects what must stop when the route changes: timers,
  // in-flight requests, blob URLs.
  class Page {
    constructor() {
      this.controller = new AbortController();
      this.signal = this.controller.signal;
      this.leaves = [];
      this.left = false;
    }
    onLeave(f) { this.leaves.push(f); }
    leave() {
      this.left = true;
      this.controller.abort();
      for (const f of this.leaves) f();
    }
  }

  let current = null;

  function parseHash() {
    const hash = location.hash.replace(/^#/, '') || '/';
    const [path, query] = hash.split('?', 2);
    return {path, params: new URLSearchParams(query || '')};
  }

  function route() {
    if (current) current.leave();
    const page = current = new Page();
    clearError();
    view.replaceChildren();
    const {path, params} = parseHash();
    const m = path.match(/^\/model\/(.+)$/);
    const ext = hooks.routes.find((r) => r.pattern.test(path));
    if (ext) {
      ext.page(page, path.match(ext.pattern), params);
    } else if (m) {
      let id = m[1];
      try { id = decodeURIComponent(id); } catch (_) { /* keep it raw */ }
      modelPage(page, id);
    } else {
      catalogPage(page, params);
    }
    window.scrollTo(0, 0);
  }

  // ---- catalog ---------------------------------------------------------

  function catalogPage(page, params) {
    document.title = 'zoo — catalog';
    const search = h('input', {
      id: 'search', type: 'search', placeholder: 'brain MRI, mammography calcifications, chest x-ray…',
      'aria-label': 'search the catalog', autocomplete: 'off', spellcheck: 'false', value: params.get('q') || '',
    });
    const modality = h('select', {id: 'modality', 'aria-label': 'modality'},
      MODALITIES.map(([v, label]) => h('option', {value: v}, label)));
    modality.value = params.get('modality') || '';
    const runnable = h('input', {id: 'runnable', type: 'checkbox', checked: params.get('runnable') === '1'});
    const summary = h('p', {id: 'summary', class: 'muted'});
    const notes = h('ul', {id: 'notes', class: 'notes'});
    const results = h('ol', {id: 'results', class: 'results'});
    const exts = hooks.catalog.map((f) => f({page, params, run: () => run()}));

    append(view, [
      h('form', {class: 'search', role: 'search', on: {submit: (e) => { e.preventDefault(); run(); }}},
        search, modality,
        h('label', {class: 'check'}, runnable, ' runnable here'),
        exts.map((x) => x.controls)),
      exts.map((x) => x.after), summary, notes, results]);

    let seq = 0;
    let inflight = null;
    page.onLeave(() => { if (inflight) inflight.abort(); });
    async function run() {
      const q = search.value.trim();
      const p = new URLSearchParams();
      if (q) p.set('q', q);
      if (modality.value) p.set('modality', modality.value);
      if (runnable.checked) p.set('runnable', '1');
      for (const x of exts) if (x.query) x.query(p);
      // Keep the query in the address (no hashchange event: replaceState).
      history.replaceState(null, '', '#/' + (p.toString() ? '?' + p : ''));
      const my = ++seq;
      if (inflight) inflight.abort();
      const ctl = inflight = new AbortController();
      results.setAttribute('aria-busy', 'true');
      try {
        const res = await getJSON('/api/models?' + p, ctl.signal);
        if (my !== seq || page.left) return;
        clearError();
        renderResults(res, q);
      } catch (err) {
        if (my === seq && !page.left) report(err);
      } finally {
        if (my === seq) results.removeAttribute('aria-busy');
      }
    }

    function renderResults(res, q) {
      const hits = res.results || [];
      summary.textContent = hits.length === 0
        ? (q ? `No model matches “${q}”.` : 'No model matches these filters.')
        : `${res.total} model${res.total === 1 ? '' : 's'}` + (q ? ` for “${q}”` : '');
      notes.replaceChildren(...(res.notes || []).map((n) => h('li', {}, n)));
      results.replaceChildren(...hits.map((m) => {
        const li = resultItem(m);
        for (const x of exts) if (x.item) x.item(li, m);
        return li;
      }));
      for (const x of exts) if (x.rendered) x.rendered(res);
    }

    const later = debounce(run, SEARCH_DEBOUNCE_MS, page);
    search.addEventListener('input', later);
    modality.addEventListener('change', run);
    runnable.addEventListener('change', run);
    run();
    if (!params.get('q')) search.focus();
  }

  // The row's metric (and its source) is catalog.js's.
  function resultItem(m) {
    return h('li', {class: 'result'},
      h('div', {class: 'result-head'},
        h('a', {href: '#/model/' + encodeURIComponent(m.id), class: 'result-title'}, m.title || m.id),
        badges(m)),
      h('div', {class: 'result-meta'},
        h('code', {class: 'id'}, m.id),
        sep(list((m.modality || []).slice(0, 3))),
        sep(sizeOf(m)),
        sep(list((m.organ || []).slice(0, 2)))));
  }

  function sep(text) {
    return text ? [h('span', {class: 'sep', 'aria-hidden': 'true'}, ' · '), text] : null;
  }

  // ---- model page -------------------------------------------------------

  async function modelPage(page, id) {
    document.title = 'zoo — ' + id;
    view.append(h('p', {class: 'back'}, h('a', {href: '#/'}, '← catalog')),
      h('p', {class: 'muted', id: 'loading'}, 'Loading ' + id + '…'));
    let m;
    try {
      m = await getJSON('/api/models/' + encodeURIComponent(id), page.signal);
    } catch (err) {
      if (page.left) return;
      report(err);
      const loading = document.getElementById('loading');
      if (loading) loading.textContent = err.status === 404 ? 'No such model.' : 'Could not load the model.';
      return;
    }
    if (page.left) return;
    document.title = 'zoo — ' + m.id;
    const sig = m.signature || {};
    const imageToImage = !!sig.input || m.function === 'image-to-image';

    view.replaceChildren(
      h('p', {class: 'back'}, h('a', {href: '#/'}, '← catalog')),
      h('h1', {id: 'model-title'}, m.title || m.id),
      h('p', {class: 'model-id'}, h('code', {}, m.id), ' ', badges(m)),
      m.description ? h('p', {class: 'description'}, m.description) : null);

    // viewer.js: image-to-image inputs and the pixel viewer.
    const viewer = window.zooViewer;
    const tools = {h, report, clearError, failure};
    if (m.runnable && !imageToImage) {
      const grid = hooks.sampleGrid.map((f) => f(page, m)).find((e) => e);
      view.append(explorer(page, m), grid || sampleGrid(page, m));
      // export.js: the data-set export form.
      if (window.zooExport) view.append(window.zooExport.section(page, m, {h, failure, report, clearError, isAbort}));
      if (viewer) append(view, [viewer.pixels(page, m, tools)]);
    } else if (m.runnable && imageToImage) {
      view.append(h('p', {class: 'note', id: 'explorer-note'},
        'This model is image-to-image: it needs input images. Give it one below, or from the command line: ',
        h('code', {}, `zoo generate ${m.id} --input DIR`), '.'));
      if (viewer) view.append(viewer.imageToImage(page, m, tools));
    } else {
      view.append(h('p', {class: 'note', id: 'explorer-note'},
        'Metadata and metrics only: ' + (m.runnable_reason || 'this model does not run in zoo.')));
    }
    view.append(metadataSection(m), metricsSection(m));
    append(view, hooks.model.map((f) => f(page, m)));
  }

  function row(name, ...value) {
    const flat = value.flat(Infinity).filter((v) => v !== '' && v !== null && v !== undefined);
    if (flat.length === 0) return null;
    return h('tr', {}, h('th', {scope: 'row'}, name), h('td', {}, ...flat));
  }

  function link(url) {
    if (/^https?:\/\//.test(url)) return h('a', {href: url, rel: 'noopener noreferrer', target: '_blank'}, url);
    return h('code', {}, url);
  }

  function metadataSection(m) {
    const sig = m.signature || {};
    const art = m.artifact || {};
    const tr = m.training || {};
    const outputs = (sig.outputs || []).map((o) =>
      `${o.name} (${o.kind}, ${o.channels}×${o.height}×${o.width}` + (o.range ? `, [${o.range.join(', ')}]` : '') + ')');
    const latent = sig.latent && sig.latent.length
      ? sig.latent.join('×') + (sig.distribution ? ` (${sig.distribution})` : '') : '';
    const conditions = (sig.conditions || []).map((c) => `${c.name}: ${list(c.values)}`);
    const input = sig.input ? `${sig.input.name} (${sig.input.kind}, ${sig.input.channels}×${sig.input.height}×${sig.input.width})` : '';
    const rows = [
      row('Modality', list(m.modality)),
      row('Organ', list(m.organ)),
      row('Function', m.function),
      row('Architecture', m.architecture),
      row('License', m.license),
      row('Size', sizeOf(m)),
      row('Input', input),
      row('Latent', latent),
      row('Conditions', list(conditions)),
      row('Outputs', list(outputs)),
      row('Dataset', list(m.dataset)),
      row('Version', m.version),
      row('Year', m.year),
      // Publication and DOI: catalog.js's links section, as links.
      row('Source catalog', m.source),
      row('Artifact', art.url ? link(art.url) : '', art.format ? ` (${art.format})` : ''),
      row('SHA-256', art.sha256 ? h('code', {class: 'hash'}, art.sha256) : ''),
      row('Training data', tr.data_source),
      row('Data licence', tr.data_license),
      row('Training command', tr.command ? h('code', {}, tr.command) : ''),
      row('Epochs', tr.epochs),
      row('Wall time', tr.wall_time),
      row('Parameters', typeof tr.parameters === 'number' ? tr.parameters.toLocaleString('en-US') : tr.parameters),
    ];
    return h('section', {class: 'details'},
      h('h2', {}, 'Details'),
      h('table', {id: 'metadata', class: 'kv'}, h('tbody', {}, rows)));
  }

  function metricsSection(m) {
    const metrics = Object.entries(m.metrics || {});
    if (metrics.length === 0) {
      return h('section', {class: 'metrics'}, h('h2', {}, 'Metrics'),
        h('p', {class: 'muted'}, 'No metrics recorded for this model.'));
    }
    const better = {lower: '↓ lower', higher: '↑ higher'};
    return h('section', {class: 'metrics'},
      h('h2', {}, 'Metrics'),
      h('div', {class: 'scroll'},
        h('table', {id: 'metrics', class: 'grid'},
          h('thead', {}, h('tr', {}, ['Metric', 'Value', 'Better', 'Source', 'Extractor', 'Images', 'Reference']
            .map((c) => h('th', {scope: 'col'}, c)))),
          h('tbody', {}, metrics.map(([name, v]) => h('tr', {},
            h('th', {scope: 'row', title: v.meaning || ''}, name),
            h('td', {class: 'num'}, v.value === undefined ? '' : formatNumber(v.value)),
            h('td', {}, better[v.direction] || v.direction || ''),
            h('td', {}, v.source || ''),
            h('td', {}, v.extractor || ''),
            h('td', {class: 'num'}, v.images || ''),
            h('td', {class: 'reference'}, v.reference || '')))))),
      h('p', {class: 'muted small'}, 'Hover a metric name for what it measures. Values from different references or extractors are not comparable.'));
  }

  // loadInto fetches url as an image and shows it in img through a blob:
  // URL, revoking the one it replaces. Returns false when superseded.
  async function loadInto(img, url, signal, isCurrent) {
    const blob = await getBlob(url, signal);
    if (!isCurrent()) return false;
    const obj = URL.createObjectURL(blob);
    const old = img.dataset.blob;
    img.src = obj;
    img.dataset.blob = obj;
    if (old) URL.revokeObjectURL(old);
    try {
      await img.decode();
    } catch (_) {
      if (!isCurrent()) return false;
      throw new Error('the server sent an image the browser cannot show: ' + url);
    }
    if (!isCurrent()) return false;
    img.dataset.request = url;
    return true;
  }

  function sampleGrid(page, m) {
    const url = `/api/models/${encodeURIComponent(m.id)}/image?n=16&cols=8&seed=0`;
    const img = h('img', {id: 'grid', class: 'grid-image', alt: `16 samples of ${m.id}, seed 0`});
    page.onLeave(() => { if (img.dataset.blob) URL.revokeObjectURL(img.dataset.blob); });
    loadInto(img, url, page.signal, () => !page.left)
      .then((ok) => { if (ok) img.width = img.naturalWidth * 2; })
      .catch(report);
    return h('section', {class: 'samples'},
      h('h2', {}, 'Samples'),
      h('p', {class: 'muted small'}, '16 samples, seed 0' +
        ((m.signature && m.signature.outputs || []).length > 1 ? '; each sample’s outputs side by side' : '') +
        '. The same figure from the command line: ', h('code', {}, `zoo generate ${m.id} -n 16 --seed 0`), '.'),
      h('div', {class: 'scroll'}, img));
  }

  // groupRanges splits a latent of size n into k equal runs, the way the
  // server does (value j belongs to group floor(j*k/n)).
  function groupRanges(n, k) {
    const out = [];
    for (let g = 0; g < k; g++) {
      const lo = Math.ceil(g * n / k);
      const hi = Math.ceil((g + 1) * n / k) - 1;
      out.push([lo, hi]);
    }
    return out;
  }

  function slider(attrs) {
    return h('input', Object.assign({
      type: 'range', min: SLIDER_MIN, max: SLIDER_MAX, step: SLIDER_STEP, value: '0',
    }, attrs));
  }

  function fmtOffset(x) {
    return (Math.round(x * 10) / 10).toFixed(1);
  }

  function explorer(page, m) {
    const sig = m.signature || {};
    const latentSize = (sig.latent || []).reduce((a, b) => a * b, 1);
    const hasLatent = (sig.latent || []).length > 0 && latentSize > 0;
    const groups = hasLatent ? Math.min(GROUPS, latentSize) : 0;
    const panels = Math.max(1, (sig.outputs || []).length);

    const img = h('img', {id: 'explorer-image', alt: `a sample of ${m.id}`});
    const download = h('a', {id: 'download', download: `${m.id}.png`, hidden: true}, 'download PNG');
    const figure = h('figure', {class: 'explorer-figure'}, img,
      h('figcaption', {class: 'muted small'}, h('span', {id: 'explorer-caption'}), ' ', download));
    page.onLeave(() => { if (img.dataset.blob) URL.revokeObjectURL(img.dataset.blob); });

    const seed = h('input', {id: 'seed', type: 'number', min: '0', step: '1', value: '0', inputmode: 'numeric'});
    const randomSeed = h('button', {id: 'random-seed', type: 'button'}, 'New seed');
    const reset = h('button', {id: 'reset', type: 'button'}, 'Reset');

    const conditionSelects = (sig.conditions || []).map((c) => ({
      name: c.name,
      values: c.values || [],
      el: h('select', {id: 'condition-' + c.name}, (c.values || []).map((v) => h('option', {value: v}, v))),
    }));

    const shiftOut = h('output', {for: 'shift', class: 'value'}, '0.0');
    const shift = slider({id: 'shift', 'aria-label': 'shift all latent values'});
    const groupSliders = groupRanges(latentSize, groups).map(([lo, hi], g) => {
      const label = lo === hi ? `z[${lo}]` : `z[${lo}-${hi}]`;
      const out = h('output', {class: 'value'}, '0.0');
      const input = slider({class: 'group-slider', 'data-group': g, 'aria-label': `offset of latent values ${label}`,
        title: `adds the offset to latent values ${lo} to ${hi}`});
      input.addEventListener('input', () => { out.textContent = fmtOffset(Number(input.value)); });
      return {input, out, el: h('label', {class: 'slider-row'}, h('span', {class: 'slider-label'}, label), input, out)};
    });
    shift.addEventListener('input', () => { shiftOut.textContent = fmtOffset(Number(shift.value)); });

    function requestURL() {
      const p = new URLSearchParams();
      p.set('n', '1');
      p.set('seed', seed.value.trim() === '' ? '0' : seed.value.trim());
      for (const c of conditionSelects) p.append('condition', `${c.name}=${c.el.value}`);
      const offsets = groupSliders.map((s) => Number(s.input.value));
      if (offsets.some((x) => x !== 0)) {
        p.set('groups', String(groups));
        p.set('offsets', offsets.map(fmtOffset).join(','));
      }
      if (Number(shift.value) !== 0) p.set('shift', fmtOffset(Number(shift.value)));
      return `/api/models/${encodeURIComponent(m.id)}/image?${p}`;
    }

    function caption() {
      const parts = [`seed ${seed.value || 0}`];
      for (const c of conditionSelects) parts.push(`${c.name} ${c.el.value}`);
      if (Number(shift.value) !== 0) parts.push(`shift ${fmtOffset(Number(shift.value))}`);
      const moved = groupSliders.filter((s) => Number(s.input.value) !== 0).length;
      if (moved) parts.push(`${moved} group${moved === 1 ? '' : 's'} moved`);
      if (panels > 1) parts.push((sig.outputs || []).map((o) => o.name).join(' | '));
      return parts.join(' · ');
    }

    let seq = 0;
    let inflight = null;
    page.onLeave(() => { if (inflight) inflight.abort(); });
    async function update() {
      const url = requestURL();
      const my = ++seq;
      if (inflight) inflight.abort();
      const ctl = inflight = new AbortController();
      figure.classList.add('loading');
      try {
        const ok = await loadInto(img, url, ctl.signal, () => my === seq && !page.left);
        if (!ok) return;
        clearError();
        img.width = img.naturalWidth * 4;
        document.getElementById('explorer-caption').textContent = caption();
        download.href = img.src;
        download.download = `${m.id}_seed${seed.value || 0}.png`;
        download.hidden = false;
      } catch (err) {
        if (my === seq && !page.left) report(err);
      } finally {
        if (my === seq) figure.classList.remove('loading');
      }
    }
    const later = debounce(update, EXPLORER_DEBOUNCE_MS, page);

    randomSeed.addEventListener('click', () => {
      const r = new Uint32Array(1);
      crypto.getRandomValues(r);
      seed.value = String(r[0] % 1000000);
      later();
    });
    reset.addEventListener('click', () => {
      seed.value = '0';
      for (const c of conditionSelects) c.el.value = c.values[0] || '';
      shift.value = '0';
      shiftOut.textContent = '0.0';
      for (const s of groupSliders) { s.input.value = '0'; s.out.textContent = '0.0'; }
      later();
    });
    seed.addEventListener('input', later);
    for (const c of conditionSelects) c.el.addEventListener('change', later);
    shift.addEventListener('input', later);
    for (const s of groupSliders) s.input.addEventListener('input', later);

    const controls = h('div', {class: 'controls'},
      h('div', {class: 'control-row'},
        h('label', {for: 'seed'}, 'Seed'), seed, randomSeed, reset),
      conditionSelects.map((c) => h('div', {class: 'control-row'},
        h('label', {for: c.el.id}, c.name), c.el)),
      hasLatent ? [
        h('div', {class: 'control-row'},
          h('label', {class: 'slider-row shift-row'}, h('span', {class: 'slider-label'}, 'shift all'), shift, shiftOut)),
        h('fieldset', {class: 'groups'},
          h('legend', {}, `Latent offsets (${latentSize} values in ${groups} groups)`),
          groupSliders.map((s) => s.el)),
      ] : h('p', {class: 'muted'}, 'This model has no latent to move.'));

    update();
    return h('section', {id: 'explorer', class: 'explorer'},
      h('h2', {}, 'Explorer'),
      h('p', {class: 'muted small'}, 'One sample, regenerated as you move the controls. ' +
        'The sliders add an offset to runs of latent values; shift adds to all of them.'),
      h('div', {class: 'explorer-body'}, figure, controls));
  }

  const api = Object.freeze({
    h, append, getJSON, getBlob, loadInto, report, showError, clearError, isAbort,
    formatNumber, list, sizeOf, badges, debounce, row, link, hooks,
  });
  // A broken extension costs its own features, not the explorer.
  for (const plugin of window.zooPlugins || []) {
    try { plugin(api); } catch (err) { showError('an explorer extension failed: ' + (err.message || err)); }
  }

  window.addEventListener('hashchange', route);
  route();
})();
