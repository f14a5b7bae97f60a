// zoo serve's data-set export: a form on a runnable model's page that
// downloads /api/models/ID/export, a zip streamed as it is generated that
// holds exactly what `zoo generate` writes, with a progress bar that counts
// the zip's files as they arrive and a cancel button.
//
// Loaded before app.js, which calls window.zooExport.section(page, m, kit)
// with its own helpers (kit: h, failure, report, clearError, isAbort).
'use strict';

(function () {
  const FORMATS = [
    ['png', 'PNG (8-bit)'], ['png16', 'PNG (16-bit)'], ['npy', 'NPY'], ['dicom', 'DICOM'], ['nifti', 'NIfTI'],
  ];
  const LOCAL_HEADER = 0x04034b50; // a zip entry's local file header
  const HEADER_SIZE = 30;

  // ZipCounter walks a zip's entries as its bytes arrive. The server writes
  // each entry's sizes into its local header (no data descriptor), so
  // every header says where the next one starts; the central directory at
  // the end is the first thing that is not a local header.
  class ZipCounter {
    constructor() {
      this.head = new Uint8Array(0); // the header being read
      this.skip = 0; // bytes of the current entry's data still to pass
      this.entries = 0;
      this.last = '';
      this.ended = false; // the central directory began
    }

    push(chunk) {
      let i = 0;
      while (i < chunk.length && !this.ended) {
        if (this.skip > 0) {
          const k = Math.min(this.skip, chunk.length - i);
          this.skip -= k;
          i += k;
          continue;
        }
        const want = this.headerLength();
        const k = Math.min(want - this.head.length, chunk.length - i);
        const head = new Uint8Array(this.head.length + k);
        head.set(this.head);
        head.set(chunk.subarray(i, i + k), this.head.length);
        this.head = head;
        i += k;
        if (this.head.length < want) continue;
        const v = new DataView(this.head.buffer);
        if (v.getUint32(0, true) !== LOCAL_HEADER) {
          this.ended = true;
          break;
        }
        if (want === HEADER_SIZE) continue; // now the name and extra field
        this.last = new TextDecoder().decode(this.head.subarray(HEADER_SIZE, HEADER_SIZE + v.getUint16(26, true)));
        this.skip = v.getUint32(18, true); // compressed size
        this.entries++;
        this.head = new Uint8Array(0);
      }
    }

    // headerLength is how many bytes of the current header are needed:
    // its fixed part, then that plus its name and extra field.
    headerLength() {
      if (this.head.length < HEADER_SIZE) return HEADER_SIZE;
      const v = new DataView(this.head.buffer);
      if (v.getUint32(0, true) !== LOCAL_HEADER) return HEADER_SIZE;
      return HEADER_SIZE + v.getUint16(26, true) + v.getUint16(28, true);
    }
  }

  function bytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }

  // shellWord quotes a word for the command line shown beside the form.
  function shellWord(s) {
    return /^[A-Za-z0-9_.=:\/-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
  }

  function section(page, m, kit) {
    const {h} = kit;
    const sig = m.signature || {};
    const n = h('input', {id: 'export-n', type: 'number', min: '1', step: '1', value: '16', inputmode: 'numeric'});
    const seed = h('input', {id: 'export-seed', type: 'number', min: '0', step: '1', value: '0', inputmode: 'numeric'});
    const format = h('select', {id: 'export-format'}, FORMATS.map(([v, label]) => h('option', {value: v}, label)));
    const conditions = (sig.conditions || []).map((c) => ({
      name: c.name,
      el: h('select', {id: 'export-condition-' + c.name},
        h('option', {value: ''}, 'each in turn'),
        (c.values || []).map((v) => h('option', {value: v}, v))),
    }));
    const start = h('button', {id: 'export-start', type: 'submit'}, 'Export');
    const cancel = h('button', {id: 'export-cancel', type: 'button', hidden: true}, 'Cancel');
    const progress = h('progress', {id: 'export-progress', max: '1', value: '0', hidden: true});
    const status = h('span', {id: 'export-status', class: 'muted small', role: 'status'});
    const save = h('a', {id: 'export-download', hidden: true}, '');
    const command = h('code', {id: 'export-command'});

    function params() {
      const p = new URLSearchParams();
      p.set('n', n.value.trim());
      p.set('seed', seed.value.trim() === '' ? '0' : seed.value.trim());
      for (const c of conditions) if (c.el.value) p.append('condition', `${c.name}=${c.el.value}`);
      p.set('format', format.value);
      return p;
    }

    function showCommand() {
      const p = params();
      const words = ['zoo', 'generate', m.id, '-n', p.get('n') || 'N', '--seed', p.get('seed')];
      for (const c of p.getAll('condition')) words.push('-c', c);
      words.push('--format', p.get('format'), '-o', 'DIR');
      command.textContent = words.map(shellWord).join(' ');
    }
    for (const el of [n, seed, format, ...conditions.map((c) => c.el)]) {
      el.addEventListener('input', showCommand);
      el.addEventListener('change', showCommand);
    }
    showCommand();

    let ctl = null;
    let blobURL = '';
    function forget() {
      if (blobURL) URL.revokeObjectURL(blobURL);
      blobURL = '';
    }
    page.onLeave(() => { if (ctl) ctl.abort(); forget(); });
    cancel.addEventListener('click', () => { if (ctl) ctl.abort(); });

    async function run() {
      if (ctl) return;
      forget();
      save.hidden = true;
      kit.clearError();
      const my = ctl = new AbortController();
      start.disabled = true;
      cancel.hidden = false;
      progress.hidden = false;
      progress.value = 0;
      status.textContent = 'starting…';
      const counter = new ZipCounter();
      let received = 0;
      let files = 0;
      try {
        const res = await fetch(`/api/models/${encodeURIComponent(m.id)}/export?${params()}`, {signal: my.signal});
        if (!res.ok) throw await kit.failure(res);
        files = Number(res.headers.get('X-Zoo-Export-Files')) || 0;
        const samples = Number(res.headers.get('X-Zoo-Export-Samples')) || 0;
        const name = (/filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '') || [])[1] || `${m.id}.zip`;
        const chunks = [];
        const reader = res.body.getReader();
        for (;;) {
          const {done, value} = await reader.read();
          if (done) break;
          chunks.push(value);
          received += value.length;
          counter.push(value);
          progress.value = files ? Math.min(counter.entries, files) / files : 0;
          status.textContent = `${counter.entries} of ${files} files (${samples} samples), ${bytes(received)}` +
            (counter.last ? ` · ${counter.last}` : '');
        }
        if (!counter.ended || counter.entries !== files) {
          throw new Error(`the export ended after ${counter.entries} of ${files} files; the zip is incomplete, try again`);
        }
        blobURL = URL.createObjectURL(new Blob(chunks, {type: 'application/zip'}));
        save.href = blobURL;
        save.download = name;
        save.textContent = `save ${name} (${bytes(received)})`;
        save.hidden = false;
        status.textContent = `done: ${files} files (${samples} samples), ${bytes(received)}`;
      } catch (err) {
        if (page.left) return;
        if (kit.isAbort(err)) {
          status.textContent = `cancelled after ${counter.entries} of ${files || '?'} files`;
        } else {
          status.textContent = 'failed';
          kit.report(err);
        }
      } finally {
        if (ctl === my) ctl = null;
        start.disabled = false;
        cancel.hidden = true;
      }
    }

    const form = h('form', {id: 'export-form', class: 'export-form', on: {submit: (e) => { e.preventDefault(); run(); }}},
      h('label', {for: 'export-n'}, 'Samples'), n,
      h('label', {for: 'export-seed'}, 'Seed'), seed,
      conditions.map((c) => [h('label', {for: c.el.id}, c.name), c.el]),
      h('label', {for: 'export-format'}, 'Format'), format,
      h('span', {class: 'export-buttons'}, start, cancel));
    return h('section', {id: 'export', class: 'export'},
      h('h2', {}, 'Export a data set'),
      h('p', {class: 'muted small'}, 'A zip of exactly the files this command writes, streamed as they are made: ' +
        'the images with their provenance, manifest.jsonl and zoo-run.json.'),
      h('p', {class: 'small'}, command),
      form,
      h('p', {class: 'export-progress'}, progress, ' ', status, ' ', save));
  }

  window.zooExport = {section, ZipCounter};
})();
