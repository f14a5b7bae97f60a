// zoo serve's explorer, catalog and comparison: what app.js's hooks add.
//
//   catalog      a thumbnail per result (a cached sample of a runnable
//                model, loaded lazily from its own URL), a rank-by control
//                over the catalog's metrics, each row's metric with whether
//                it is self-reported or measured, checkboxes to compare
//   model page   publication, DOI and Zenodo links, a BibTeX entry to copy,
//                "compare with…", and a conditional model's sample grid as
//                one labelled row per condition value
//   #/compare?ids=A,B&seed=S
//                models side by side: one sample grid each with the same
//                seed, their catalog metrics beside them
'use strict';

(window.zooPlugins = window.zooPlugins || []).push((zoo) => {
  const {h, getJSON, loadInto, report, formatNumber, badges, hooks} = zoo;

  const THUMB_PX = 64; // shown size; the image keeps the model's own pixels
  const MAX_COMPARE = 6; // columns the compare page shows
  const COMPARE_N = 8; // samples per model on the compare page
  const COMPARE_COLS = 4;
  const ROW_SAMPLES = 8; // samples per condition row of a model page's grid
  const MAX_CONDITION_ROWS = 8;

  const enc = encodeURIComponent;

  // What a metric's catalog source says, in two words.
  function sourceLabel(source) {
    if (!source) return {text: 'source not stated', cls: 'unknown'};
    if (/^measured/i.test(source)) return {text: 'measured', cls: 'measured'};
    if (/^self-reported/i.test(source)) return {text: 'self-reported', cls: 'self'};
    return {text: source, cls: 'unknown'};
  }

  function metricSource(source) {
    const s = sourceLabel(source);
    return h('span', {class: 'metric-source ' + s.cls, title: source || 'the catalog does not say who measured it'}, s.text);
  }

  // ---- catalog --------------------------------------------------------

  // The compare selection outlives re-renders of the results (a new search
  // keeps what was picked), not the page.
  hooks.catalog.push(({page, params, run}) => {
    const picked = new Set();
    const rankBy = h('select', {id: 'rank-by', 'aria-label': 'rank by metric', title: 'rank by a catalog metric'},
      h('option', {value: ''}, 'rank: relevance'));
    const order = h('select', {id: 'order', 'aria-label': 'order of the ranking'},
      h('option', {value: ''}, 'best first'),
      h('option', {value: 'asc'}, 'smallest first'),
      h('option', {value: 'desc'}, 'largest first'));
    // The address's rank_by shows at once, before the metric list arrives.
    const asked = params.get('rank_by') || '';
    if (asked) rankBy.append(h('option', {value: asked}, asked));
    rankBy.value = asked;
    order.value = ['asc', 'desc'].includes(params.get('order')) ? params.get('order') : '';
    order.disabled = !rankBy.value;
    getJSON('/api/metrics', page.signal).then((res) => {
      for (const mt of res.metrics || []) {
        if (mt.name === asked) continue;
        rankBy.append(h('option', {value: mt.name, title: mt.meaning || ''},
          `${mt.name} (${mt.models} model${mt.models === 1 ? '' : 's'})`));
      }
    }).catch(report);
    rankBy.addEventListener('change', () => { order.disabled = !rankBy.value; run(); });
    order.addEventListener('change', run);

    const compare = h('button', {id: 'compare', type: 'button', disabled: true}, 'Compare');
    const hint = h('span', {class: 'muted small', id: 'compare-hint'}, 'tick two or more models to compare them');
    const bar = h('div', {id: 'compare-bar', class: 'compare-bar'}, compare, ' ', hint);
    function refresh() {
      compare.disabled = picked.size < 2;
      compare.textContent = picked.size ? `Compare ${picked.size}` : 'Compare';
      hint.textContent = picked.size < 2 ? 'tick two or more models to compare them'
        : [...picked].join(', ') + (picked.size >= MAX_COMPARE ? ` (at most ${MAX_COMPARE})` : '');
    }
    compare.addEventListener('click', () => {
      if (picked.size >= 2) location.hash = '#/compare?' + new URLSearchParams({ids: [...picked].join(','), seed: '0'});
    });

    return {
      controls: [rankBy, order],
      after: bar,
      query(p) {
        if (!rankBy.value) return;
        p.set('rank_by', rankBy.value);
        if (order.value) p.set('order', order.value);
      },
      item(li, m) {
        const pick = h('input', {type: 'checkbox', class: 'pick', 'aria-label': 'compare ' + m.id,
          title: 'compare', checked: picked.has(m.id)});
        pick.dataset.id = m.id;
        pick.addEventListener('change', () => {
          if (pick.checked && picked.size < MAX_COMPARE) picked.add(m.id);
          else { pick.checked = false; picked.delete(m.id); }
          refresh();
        });
        const body = h('div', {class: 'result-body'}, ...li.childNodes);
        const meta = body.querySelector('.result-meta');
        if (meta) meta.append(h('span', {class: 'sep', 'aria-hidden': 'true'}, ' · '), rowMetric(m, rankBy.value));
        li.classList.add('with-thumb');
        li.replaceChildren(pick, thumbnail(m), body);
      },
      rendered: refresh,
    };
  });

  // thumbnail is the model's cached sample, loaded by the browser on its
  // own (loading=lazy: rows below the fold wait until scrolled to), or a
  // placeholder that says why there is none.
  function thumbnail(m) {
    if (!m.thumbnail) {
      const why = m.no_thumbnail || 'no thumbnail';
      return h('span', {class: 'thumb none', title: why}, /image-to-image/.test(why) ? 'needs input' : 'no preview');
    }
    const img = h('img', {class: 'thumb', src: m.thumbnail, alt: `a sample of ${m.id} (seed 0)`,
      width: THUMB_PX, height: THUMB_PX, loading: 'lazy', decoding: 'async'});
    img.addEventListener('error', () => {
      img.replaceWith(h('span', {class: 'thumb none', title: 'the thumbnail could not be made; the model page says why'}, 'no preview'));
    });
    return img;
  }

  // rowMetric: the metric the server chose for the row (shown_metric).
  function rowMetric(m, rankedBy) {
    const sm = m.shown_metric;
    if (!sm) {
      return h('span', {class: 'row-metric missing'}, rankedBy ? `no ${rankedBy}` : 'no metrics');
    }
    const better = {lower: 'lower is better', higher: 'higher is better'}[sm.better] || '';
    return h('span', {class: 'row-metric', title: [better, sm.extractor].filter(Boolean).join('; ')},
      h('span', {class: 'metric-name'}, sm.name), ' ', h('span', {class: 'metric-value'}, formatNumber(sm.value)), ' ',
      metricSource(sm.source));
  }

  // ---- model page -------------------------------------------------------

  hooks.model.push((page, m) => {
    const sec = h('section', {id: 'links', class: 'links'},
      h('h2', {}, 'Publication and citation'),
      h('p', {class: 'muted'}, 'Loading…'));
    getJSON(`/api/models/${enc(m.id)}/links`, page.signal)
      .then((c) => { if (!page.left) fillLinks(sec, c, m); })
      .catch(report);
    return [sec, compareWith(page, m)];
  });

  function outLink(url, text, id) {
    return h('a', {href: url, id, rel: 'noopener noreferrer', target: '_blank'}, text);
  }

  function fillLinks(sec, c, m) {
    const rows = [];
    const tr = (name, ...v) => rows.push(h('tr', {}, h('th', {scope: 'row'}, name), h('td', {}, ...v)));
    if (c.publication) {
      tr('Publication', c.publication.url ? outLink(c.publication.url, c.publication.text, 'publication-link') : c.publication.text);
    }
    if ((c.doi || []).length) {
      tr('DOI', (c.doi).map((d, i) => [i ? ', ' : '', d.url ? h('a', {href: d.url, class: 'doi', rel: 'noopener noreferrer', target: '_blank'}, d.text) : d.text]));
    }
    if (c.zenodo) tr('Zenodo record', outLink(c.zenodo, c.zenodo, 'zenodo-link'));
    if (c.sample_images) {
      tr('Sample image', outLink(c.sample_images, 'in medigan’s table of models', 'medigan-samples'),
        h('span', {class: 'muted small'}, ' (on GitHub: this explorer loads nothing from other sites, so it links the image instead of showing it)'));
    }
    const pre = h('pre', {id: 'bibtex', class: 'bibtex'}, c.bibtex);
    const button = h('button', {id: 'copy-bibtex', type: 'button'}, 'Copy BibTeX');
    const spot = h('div', {class: 'copy-spot'});
    button.addEventListener('click', () => copyText(c.bibtex, button, spot));
    sec.replaceChildren(
      h('h2', {}, 'Publication and citation'),
      rows.length ? h('table', {class: 'kv', id: 'links-table'}, h('tbody', {}, rows))
        : h('p', {class: 'muted'}, 'The catalog names no publication or DOI for this model.'),
      h('div', {class: 'cite-head'}, h('h3', {}, 'Cite this model'), button),
      pre, spot,
      h('p', {class: 'muted small'}, `Built from the catalog entry of ${m.id}.`));
  }

  // copyText puts text on the clipboard, or, where the browser gives no
  // clipboard (not a secure context, permission refused), in a selected
  // textarea for Ctrl+C. The button says which happened.
  async function copyText(text, button, spot) {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = 'copied';
        return;
      } catch (_) { /* fall back below */ }
    }
    const ta = h('textarea', {id: 'bibtex-copy', class: 'copy-fallback', readonly: true, rows: 8,
      'aria-label': 'BibTeX, selected: press Ctrl+C to copy'});
    ta.value = text;
    spot.replaceChildren(ta);
    ta.focus();
    ta.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch (_) { ok = false; }
    button.textContent = ok ? 'copied' : 'selected: press Ctrl+C';
  }

  // compareWith: pick another model and compare it with this one, with
  // the explorer's seed when there is one.
  function compareWith(page, m) {
    const other = h('select', {id: 'compare-with', 'aria-label': 'model to compare with'},
      h('option', {value: ''}, 'compare with…'));
    const go = h('button', {id: 'compare-go', type: 'button', disabled: true}, 'Compare');
    getJSON('/api/models?limit=500', page.signal).then((res) => {
      for (const hit of res.results || []) {
        if (hit.id !== m.id) other.append(h('option', {value: hit.id}, `${hit.title || hit.id} (${hit.id})`));
      }
    }).catch(report);
    other.addEventListener('change', () => { go.disabled = !other.value; });
    go.addEventListener('click', () => {
      if (!other.value) return;
      const seed = document.getElementById('seed');
      const s = seed && /^\d+$/.test(seed.value.trim()) ? seed.value.trim() : '0';
      location.hash = '#/compare?' + new URLSearchParams({ids: `${m.id},${other.value}`, seed: s});
    });
    return h('section', {class: 'compare-with'}, h('h2', {}, 'Compare'),
      h('div', {class: 'control-row'}, other, go),
      h('p', {class: 'muted small'}, 'Side by side with the same seed, with both models’ metrics.'));
  }

  // A conditional model's sample grid: one row per value of its first
  // condition that has values, each row its own request with that value
  // (the others at their first value), labelled on the page.
  hooks.sampleGrid.push((page, m) => {
    const conds = (m.signature && m.signature.conditions) || [];
    const by = conds.find((c) => (c.values || []).length > 1);
    if (!by) return null;
    const values = by.values.slice(0, MAX_CONDITION_ROWS);
    const rows = values.map((v, i) => {
      const p = new URLSearchParams({n: String(ROW_SAMPLES), cols: String(ROW_SAMPLES), seed: '0'});
      for (const c of conds) {
        if (c === by) p.append('condition', `${c.name}=${v}`);
        else if ((c.values || []).length) p.append('condition', `${c.name}=${c.values[0]}`);
      }
      const img = h('img', {class: 'grid-image grid-row-image', id: 'grid-row-' + i, alt: `${ROW_SAMPLES} samples of ${m.id} with ${by.name} ${v}, seed 0`});
      page.onLeave(() => { if (img.dataset.blob) URL.revokeObjectURL(img.dataset.blob); });
      loadInto(img, `/api/models/${enc(m.id)}/image?${p}`, page.signal, () => !page.left)
        .then((ok) => { if (ok) img.width = img.naturalWidth * 2; })
        .catch(report);
      return h('div', {class: 'grid-row'}, h('div', {class: 'row-label'}, `${by.name} = ${v}`), img);
    });
    const more = by.values.length > values.length ? `; the first ${values.length} of its ${by.values.length} values` : '';
    return h('section', {class: 'samples'},
      h('h2', {}, 'Samples'),
      h('p', {class: 'muted small'}, `${ROW_SAMPLES} samples per row, seed 0, one row per ${by.name}${more}. ` +
        'The same rows from the command line: ', h('code', {}, `zoo generate ${m.id} -n ${ROW_SAMPLES} --seed 0 --condition ${by.name}=VALUE`), '.'),
      h('div', {class: 'scroll', id: 'grid-rows'}, rows));
  });

  // ---- compare ------------------------------------------------------------

  hooks.routes.push({pattern: /^\/compare$/, page: comparePage});

  function comparePage(page, _match, params) {
    document.title = 'zoo — compare';
    const ids = (params.get('ids') || '').split(',').map((s) => s.trim()).filter(Boolean);
    const seedText = (params.get('seed') || '0').trim();
    const seed = h('input', {id: 'compare-seed', type: 'number', min: '0', step: '1', value: seedText, inputmode: 'numeric'});
    const apply = h('button', {id: 'compare-apply', type: 'button'}, 'Apply');
    apply.addEventListener('click', () => {
      const s = seed.value.trim();
      location.hash = '#/compare?' + new URLSearchParams({ids: ids.join(','), seed: /^\d+$/.test(s) ? s : '0'});
    });
    view().append(h('p', {class: 'back'}, h('a', {href: '#/'}, '← catalog')),
      h('h1', {}, 'Compare'));
    if (ids.length < 1 || !/^\d+$/.test(seedText)) {
      view().append(h('p', {class: 'note', id: 'compare-note'},
        'Name the models and a seed in the address, e.g. ', h('code', {}, '#/compare?ids=101,103&seed=0'),
        ', or tick models in the catalog and press Compare.'));
      return;
    }
    const shown = ids.slice(0, MAX_COMPARE);
    view().append(
      h('div', {class: 'control-row'}, h('label', {for: 'compare-seed'}, 'Seed'), seed, apply),
      h('p', {class: 'muted small'}, `${COMPARE_N} samples of each model with seed ${seedText}` +
        (ids.length > shown.length ? `; the first ${MAX_COMPARE} of the ${ids.length} models named` : '') +
        '. A conditional model mixes its condition values in balance, as zoo generate does without --condition.'));
    const cols = h('div', {class: 'compare-cols', id: 'compare-cols'});
    const table = h('section', {class: 'metrics'}, h('h2', {}, 'Metrics'), h('p', {class: 'muted'}, 'Loading…'));
    view().append(cols, table);
    const loaded = shown.map((id, i) => compareColumn(page, cols, id, i, seedText));
    Promise.all(loaded).then((models) => { if (!page.left) table.replaceChildren(...metricsTable(models)); });
  }

  function view() { return document.getElementById('view'); }

  // compareColumn shows one model and resolves to its catalog entry (null
  // when it could not be loaded).
  async function compareColumn(page, cols, id, i, seed) {
    const col = h('div', {class: 'compare-col', id: 'compare-col-' + i}, h('p', {class: 'muted'}, 'Loading ' + id + '…'));
    cols.append(col);
    let m;
    try {
      m = await getJSON('/api/models/' + enc(id), page.signal);
    } catch (err) {
      if (page.left) return null;
      report(err);
      col.replaceChildren(h('p', {class: 'note'}, err.status === 404 ? `No such model: ${id}.` : `Could not load ${id}.`));
      return null;
    }
    if (page.left) return null;
    const sig = m.signature || {};
    const head = [h('h2', {}, h('a', {href: '#/model/' + enc(m.id)}, m.title || m.id)),
      h('p', {class: 'model-id'}, h('code', {}, m.id), ' ', badges(m))];
    if (!m.runnable || sig.input || m.function === 'image-to-image') {
      col.replaceChildren(...head, h('p', {class: 'note compare-none'}, m.runnable
        ? 'Image-to-image: it needs input images, so no samples here.'
        : 'Metadata and metrics only: it does not run here.'));
      return m;
    }
    const url = `/api/models/${enc(m.id)}/image?` + new URLSearchParams({n: String(COMPARE_N), cols: String(COMPARE_COLS), seed});
    const img = h('img', {class: 'grid-image compare-grid', id: 'compare-grid-' + i, alt: `${COMPARE_N} samples of ${m.id}, seed ${seed}`});
    page.onLeave(() => { if (img.dataset.blob) URL.revokeObjectURL(img.dataset.blob); });
    col.replaceChildren(...head, h('div', {class: 'scroll'}, img),
      h('p', {class: 'muted small'}, h('code', {}, `zoo generate ${m.id} -n ${COMPARE_N} --seed ${seed}`)));
    loadInto(img, url, page.signal, () => !page.left)
      .then((ok) => { if (ok) img.width = img.naturalWidth * 2; })
      .catch(report);
    return m;
  }

  // mixedExtractors: do the models' values of a metric come from
  // different feature extractors (FID on ImageNet vs RadImageNet
  // Inception), which makes them incomparable?
  function mixedExtractors(models, name) {
    const ex = new Set(models.map((m) => (m.metrics || {})[name]).filter(Boolean).map((v) => v.extractor || ''));
    return ex.size > 1;
  }

  // metricsTable: one row per metric any compared model has, one column
  // per model, each value with its source. Values under different
  // extractors are not comparable, and the cells say which extractor.
  function metricsTable(models) {
    const ok = models.filter(Boolean);
    const count = new Map();
    for (const m of ok) for (const name of Object.keys(m.metrics || {})) count.set(name, (count.get(name) || 0) + 1);
    const names = [...count.keys()].sort((a, b) => count.get(b) - count.get(a) || a.localeCompare(b));
    if (names.length === 0) return [h('h2', {}, 'Metrics'), h('p', {class: 'muted'}, 'The catalog has no metrics for these models.')];
    const better = {lower: '↓', higher: '↑'};
    return [h('h2', {}, 'Metrics'),
      h('div', {class: 'scroll'}, h('table', {id: 'compare-metrics', class: 'grid'},
        h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Metric'),
          ok.map((m) => h('th', {scope: 'col'}, h('code', {}, m.id))))),
        h('tbody', {}, names.map((name) => h('tr', {},
          h('th', {scope: 'row'}, name, mixedExtractors(ok, name)
            ? h('span', {class: 'mixed', title: 'computed with different feature extractors: these values are not comparable'}, ' ≠') : null),
          ok.map((m) => {
            const v = (m.metrics || {})[name];
            if (!v) return h('td', {class: 'muted'}, '—');
            return h('td', {class: 'num', title: [v.extractor, v.reference].filter(Boolean).join('; ')},
              formatNumber(v.value), ' ', better[v.direction] || '', ' ', metricSource(v.source));
          })))))),
      h('p', {class: 'muted small'}, 'Values from different extractors or references are not comparable (≠ marks a metric whose extractors differ here); hover a value for its extractor.')];
  }
});
