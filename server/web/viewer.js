// zoo serve's explorer, part two: image-to-image models run on an uploaded
// or an example input, and the pixel viewer: one sample's raw values drawn
// on a <canvas>, the value under the mouse in the model's units (HU for
// CT, MR's stored signal, or the raw value), and window/level in those
// units, re-rendered here without asking the server again.
//
// app.js calls window.zooViewer.pixels(page, m, tools) on a model page
// that runs here and .imageToImage(page, m, tools) for an image-to-image
// model; tools are app.js's helpers {h, report, clearError, failure}.
// Loaded before app.js (both deferred, so in order).
'use strict';

window.zooViewer = (function () {
  const UPLOAD_HEADER = 'X-Zoo-Upload'; // server/upload.go: UploadHeader
  const VALUES_HEADER = 'X-Zoo-Values'; // server/pixels.go: ValuesHeader
  // CT windows (center/width in HU); "full" is the declared range.
  const HU_PRESETS = [
    ['brain', 'brain 40/80', 40, 80],
    ['soft', 'soft tissue 40/400', 40, 400],
    ['lung', 'lung −600/1500', -600, 1500],
    ['bone', 'bone 400/1800', 400, 1800],
  ];

  // scaleOf says what a values answer's numbers mean: how a raw value v
  // becomes the number shown (the DICOM encoder's mapping, output/dicom.go)
  // and the declared range in those units.
  function scaleOf(meta) {
    const [lo, hi] = meta.range;
    if (meta.units === 'HU') {
      const a = meta.offset + meta.scale * lo;
      const b = meta.offset + meta.scale * hi;
      return {units: 'HU', label: 'HU', lo: Math.min(a, b), hi: Math.max(a, b),
        of: (v) => meta.offset + meta.scale * v, text: (u) => u.toFixed(1) + ' HU'};
    }
    if (meta.units === 'MR' && meta.stored_bits > 0) {
      const top = 2 ** meta.stored_bits - 1;
      return {units: 'MR', label: `MR signal (${meta.stored_bits}-bit stored, arbitrary units)`, lo: 0, hi: top,
        of: (v) => Math.min(top, Math.max(0, Math.round((v - lo) / (hi - lo) * top))),
        text: (u) => `${u} (MR signal, of 0–${top})`};
    }
    const what = meta.units === 'MR' ? 'MR signal, arbitrary units' : 'no units declared';
    return {units: meta.units || '', label: `raw value (${what})`, lo, hi,
      of: (v) => v, text: (u) => String(Number(u.toPrecision(5))) + ` (${what})`};
  }

  // gray is the displayed level of value u under window center c, width w
  // (docs/explorer.md): 255 × (u − (c − w/2)) / w, clamped and rounded.
  function gray(u, c, w) {
    const x = (u - (c - w / 2)) / w;
    return Math.round(255 * Math.min(1, Math.max(0, x)));
  }

  async function fetchValues(url, init, tools) {
    const res = await fetch(url, init);
    if (!res.ok) throw await tools.failure(res);
    const meta = JSON.parse(res.headers.get(VALUES_HEADER));
    const view = new DataView(await res.arrayBuffer());
    const n = meta.width * meta.height;
    if (view.byteLength !== 4 * n) throw new Error(`the server sent ${view.byteLength} bytes for ${meta.width}×${meta.height} values`);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = view.getFloat32(4 * i, true);
    return {meta, values};
  }

  // pixelView is the canvas, its readout and the window/level controls;
  // show(meta, values) draws a sample.
  function pixelView(tools) {
    const h = tools.h;
    const canvas = h('canvas', {id: 'pixels', class: 'pixel-canvas', width: 1, height: 1});
    const readout = h('p', {id: 'pixel-readout', class: 'readout', 'aria-live': 'polite'}, 'Move the mouse over the image.');
    const center = h('input', {id: 'wl-center', type: 'number', step: 'any', 'aria-label': 'window center'});
    const width = h('input', {id: 'wl-width', type: 'number', step: 'any', min: '0', 'aria-label': 'window width'});
    const preset = h('select', {id: 'wl-preset', 'aria-label': 'window preset'});
    const unitsLabel = h('span', {id: 'wl-units', class: 'muted small'});
    let shown = null; // {meta, values, scale, units: Float64Array}

    function render() {
      if (!shown) return;
      const c = Number(center.value);
      const w = Number(width.value);
      if (!Number.isFinite(c) || !Number.isFinite(w) || w <= 0) return;
      const g = canvas.getContext('2d');
      const img = g.createImageData(canvas.width, canvas.height);
      for (let i = 0; i < shown.units.length; i++) {
        const v = gray(shown.units[i], c, w);
        img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
        img.data[4 * i + 3] = 255;
      }
      g.putImageData(img, 0, 0);
      canvas.dataset.window = `${c}/${w}`;
    }

    function setWindow(c, w) {
      center.value = String(c);
      width.value = String(w);
      render();
    }

    function presets(scale) {
      const opts = [h('option', {value: 'full'}, `full range ${Number(scale.lo.toPrecision(6))}…${Number(scale.hi.toPrecision(6))}`)];
      if (scale.units === 'HU') for (const [v, label] of HU_PRESETS) opts.push(h('option', {value: v}, label));
      opts.push(h('option', {value: 'custom'}, 'custom'));
      preset.replaceChildren(...opts);
    }

    preset.addEventListener('change', () => {
      if (!shown) return;
      const s = shown.scale;
      if (preset.value === 'full') setWindow((s.lo + s.hi) / 2, s.hi - s.lo);
      const p = HU_PRESETS.find(([v]) => v === preset.value);
      if (p) setWindow(p[2], p[3]);
    });
    for (const input of [center, width]) {
      input.addEventListener('input', () => { preset.value = 'custom'; render(); });
    }

    canvas.addEventListener('mousemove', (e) => {
      if (!shown) return;
      const r = canvas.getBoundingClientRect();
      const x = Math.floor((e.clientX - r.left) * canvas.width / r.width);
      const y = Math.floor((e.clientY - r.top) * canvas.height / r.height);
      if (x < 0 || y < 0 || x >= canvas.width || y >= canvas.height) return;
      const i = y * canvas.width + x;
      const u = shown.units[i];
      readout.textContent = `x ${x}, y ${y}: ${shown.scale.text(u)}`;
      Object.assign(readout.dataset, {x: String(x), y: String(y), value: String(u), raw: String(shown.values[i])});
    });

    function show(meta, values) {
      const scale = scaleOf(meta);
      const units = new Float64Array(values.length);
      for (let i = 0; i < values.length; i++) units[i] = scale.of(values[i]);
      const first = !shown || shown.scale.units !== scale.units || shown.scale.lo !== scale.lo || shown.scale.hi !== scale.hi;
      shown = {meta, values, scale, units};
      el.hidden = false;
      canvas.width = meta.width;
      canvas.height = meta.height;
      canvas.setAttribute('aria-label', `${meta.output} of ${meta.model}, sample ${meta.index}: ${scale.label}`);
      unitsLabel.textContent = 'in ' + scale.label;
      if (first) {
        presets(scale);
        preset.value = 'full';
        setWindow((scale.lo + scale.hi) / 2, scale.hi - scale.lo);
      } else {
        render();
      }
      canvas.dataset.sample = `${meta.model} ${meta.output} ${meta.seed} ${meta.index} ${meta.input || ''}`;
    }

    const el = h('div', {class: 'pixel-view'},
      canvas,
      h('div', {class: 'controls'},
        readout,
        h('div', {class: 'control-row'}, h('label', {for: 'wl-preset'}, 'Window'), preset),
        h('div', {class: 'control-row'},
          h('label', {for: 'wl-center'}, 'Center'), center,
          h('label', {for: 'wl-width'}, 'Width'), width),
        h('p', {}, unitsLabel),
        h('p', {class: 'muted small'}, 'Gray level = 255 × (value − (center − width/2)) / width, clamped to 0…255.')));
    el.hidden = true; // until a sample is shown
    return {el, show};
  }

  function grayOutputs(m) {
    return ((m.signature || {}).outputs || []).filter((o) => o.channels === 1);
  }

  // pixels is the pixel viewer of a noise-to-image model's sample, with
  // its own seed, output and conditions; null when no output is gray.
  function pixels(page, m, tools) {
    const h = tools.h;
    const outputs = grayOutputs(m);
    if (outputs.length === 0) return null;
    const pv = pixelView(tools);
    const seed = h('input', {id: 'pixel-seed', type: 'number', min: '0', step: '1', value: '0', inputmode: 'numeric'});
    const output = h('select', {id: 'pixel-output'}, outputs.map((o) => h('option', {value: o.name}, o.name)));
    const conditions = ((m.signature || {}).conditions || []).map((c) => ({
      name: c.name,
      el: h('select', {id: 'pixel-condition-' + c.name}, (c.values || []).map((v) => h('option', {value: v}, v))),
    }));

    let seq = 0;
    let inflight = null;
    page.onLeave(() => { if (inflight) inflight.abort(); });
    async function load() {
      const p = new URLSearchParams();
      p.set('seed', seed.value.trim() === '' ? '0' : seed.value.trim());
      p.set('output', output.value);
      for (const c of conditions) p.append('condition', `${c.name}=${c.el.value}`);
      const url = `/api/models/${encodeURIComponent(m.id)}/values?${p}`;
      const my = ++seq;
      if (inflight) inflight.abort();
      const ctl = inflight = new AbortController();
      try {
        const {meta, values} = await fetchValues(url, {signal: ctl.signal}, tools);
        if (my !== seq || page.left) return;
        pv.show(meta, values);
        pv.el.dataset.request = url;
      } catch (err) {
        if (my === seq && !page.left) tools.report(err);
      }
    }
    seed.addEventListener('input', load);
    output.addEventListener('change', load);
    for (const c of conditions) c.el.addEventListener('change', load);
    load();

    return h('section', {id: 'pixel-section', class: 'pixels'},
      h('h2', {}, 'Pixel values'),
      h('p', {class: 'muted small'}, 'One sample drawn from its raw values (',
        h('code', {}, `/api/models/${m.id}/values`), '): the value under the mouse in the model’s declared units, and a window of your choice.'),
      h('div', {class: 'control-row'},
        h('label', {for: 'pixel-seed'}, 'Seed'), seed,
        outputs.length > 1 ? [h('label', {for: 'pixel-output'}, 'Output'), output] : null,
        conditions.map((c) => [h('label', {for: c.el.id}, c.name), c.el])),
      pv.el);
  }

  // imageToImage runs an image-to-image model on an uploaded file or one of
  // its example inputs: the result as the server's figure, and its first
  // gray output in the pixel viewer.
  function imageToImage(page, m, tools) {
    const h = tools.h;
    const spec = (m.signature || {}).input || {};
    const file = h('input', {id: 'input-file', type: 'file', accept: '.png,.jpg,.jpeg,.npy,.dcm,.dicom'});
    const example = h('select', {id: 'example', 'aria-label': 'example input'},
      h('option', {value: ''}, 'choose an example input…'));
    const input = h('img', {id: 'i2i-input', class: 'i2i-result', alt: 'the chosen input', hidden: true});
    const inputFigure = h('figure', {class: 'explorer-figure', hidden: true}, input,
      h('figcaption', {class: 'muted small'}, 'input'));
    const result = h('img', {id: 'i2i-result', class: 'i2i-result', alt: `the output of ${m.id} for the chosen input`});
    const caption = h('figcaption', {id: 'i2i-caption', class: 'muted small'});
    const figure = h('figure', {class: 'explorer-figure', hidden: true}, result, caption);
    page.onLeave(() => {
      for (const img of [input, result]) if (img.dataset.blob) URL.revokeObjectURL(img.dataset.blob);
    });

    // showInput shows the input beside the result where the browser can
    // (PNG, JPEG); NPY and DICOM are shown by their output only.
    function showInput(src, isBlob) {
      if (input.dataset.blob) URL.revokeObjectURL(input.dataset.blob);
      delete input.dataset.blob;
      if (isBlob) input.dataset.blob = src;
      input.hidden = inputFigure.hidden = !src;
      if (src) input.src = src;
    }
    const pv = grayOutputs(m).length > 0 ? pixelView(tools) : null;

    let seq = 0;
    let inflight = null;
    page.onLeave(() => { if (inflight) inflight.abort(); });
    // run asks for the figure, then the values, of one input: how(format)
    // gives the URL and fetch options for each.
    async function run(what, how) {
      const my = ++seq;
      if (inflight) inflight.abort();
      const ctl = inflight = new AbortController();
      const current = () => my === seq && !page.left;
      figure.classList.add('loading');
      try {
        const [url, init] = how('png');
        const res = await fetch(url, Object.assign({signal: ctl.signal}, init));
        if (!res.ok) throw await tools.failure(res);
        const blob = await res.blob();
        if (!current()) return;
        const obj = URL.createObjectURL(blob);
        if (result.dataset.blob) URL.revokeObjectURL(result.dataset.blob);
        result.src = obj;
        result.dataset.blob = obj;
        await result.decode();
        if (!current()) return;
        result.width = result.naturalWidth * 4;
        figure.hidden = false;
        result.dataset.input = what;
        caption.textContent = `${m.id} on ${what}`;
        tools.clearError();
        if (pv) {
          const [vurl, vinit] = how('values');
          const {meta, values} = await fetchValues(vurl, Object.assign({signal: ctl.signal}, vinit), tools);
          if (!current()) return;
          pv.show(meta, values);
        }
      } catch (err) {
        if (current()) tools.report(err);
      } finally {
        if (my === seq) figure.classList.remove('loading');
      }
    }

    file.addEventListener('change', () => {
      const f = file.files && file.files[0];
      if (!f) return;
      example.value = '';
      showInput(/\.(png|jpe?g)$/i.test(f.name) ? URL.createObjectURL(f) : '', true);
      const base = `/api/models/${encodeURIComponent(m.id)}/generate?name=${encodeURIComponent(f.name)}`;
      run(f.name, (format) => [format === 'png' ? base : `${base}&format=${format}`,
        {method: 'POST', body: f, headers: {[UPLOAD_HEADER]: '1'}}]);
    });
    example.addEventListener('change', () => {
      const name = example.value;
      if (!name) return;
      file.value = '';
      showInput(`/api/models/${encodeURIComponent(m.id)}/examples/${encodeURIComponent(name)}`, false);
      const base = `/api/models/${encodeURIComponent(m.id)}/image?example=${encodeURIComponent(name)}`;
      run(name, (format) => [format === 'png' ? base : `${base}&format=${format}`, {}]);
    });

    fetch(`/api/models/${encodeURIComponent(m.id)}/examples`, {signal: page.signal})
      .then(async (res) => {
        if (!res.ok) throw await tools.failure(res);
        return res.json();
      })
      .then((list) => {
        if (page.left) return;
        for (const e of list.examples || []) example.append(h('option', {value: e.name}, e.name));
        example.disabled = (list.examples || []).length === 0;
        example.dataset.loaded = String((list.examples || []).length);
        // Show the first example's output until the user picks an input.
        if (seq === 0 && example.options.length > 1) {
          example.value = example.options[1].value;
          example.dispatchEvent(new Event('change'));
        }
      })
      .catch((err) => { if (!page.left) tools.report(err); });

    const size = spec.width ? `${spec.width}×${spec.height} with ${spec.channels} channel${spec.channels === 1 ? '' : 's'}` : '';
    return h('section', {id: 'i2i', class: 'explorer'},
      h('h2', {}, 'Run on an input image'),
      h('p', {class: 'muted small'}, `Upload a PNG, JPEG, NPY or DICOM file${size ? ' of ' + size : ''} (at most 16 MiB; `,
        'read as ', h('code', {}, `zoo generate ${m.id} --input FILE`), ' reads it), or pick one of the model’s example inputs.'),
      h('div', {class: 'control-row'},
        h('label', {for: 'input-file'}, 'Input image'), file,
        h('label', {for: 'example'}, 'or example'), example),
      h('div', {class: 'explorer-body'}, inputFigure, figure),
      pv ? [h('h3', {}, 'Pixel values of the output'), pv.el] : null);
  }

  return {pixels, imageToImage, gray, scaleOf};
})();
