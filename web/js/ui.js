// Small DOM helpers shared by the views.

/** h('div.cls#id', {attrs}, ...children): an element. */
export function h(spec, attrs = {}, ...children) {
  const [, tag = 'div', rest = ''] = /^([a-z0-9]+)?(.*)$/i.exec(spec);
  const el = document.createElement(tag || 'div');
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'html') el.innerHTML = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export function time(ms, withDate = false) {
  const d = new Date(Number(ms));
  const pad = (n) => String(n).padStart(2, '0');
  const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withDate ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}` : t;
}

/** A table with a caption (for screen readers), column headers and rows of cells;
 *  `empty` is shown in one cell when there are no rows. */
export function table(caption, columns, rows, empty = 'Nothing yet.', cls = '') {
  // explicit roles: the narrow-screen layout (app.css) displays rows as blocks, which
  // would otherwise drop the table semantics in some browsers
  const head = h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, columns.map((c) => h('th', {
    scope: 'col', role: 'columnheader', class: c.cls || null }, c.label))));
  const body = h('tbody', { role: 'rowgroup' });
  if (!rows.length) {
    body.append(h('tr', { role: 'row' }, h('td.empty', { role: 'cell', colspan: String(columns.length) }, empty)));
  }
  for (const row of rows) {
    const tr = h('tr', { role: 'row', ...(row.attrs || {}) });
    columns.forEach((c, i) => {
      const v = row.cells[i];
      tr.append(h('td', { role: 'cell', class: c.cls || null, 'data-label': c.label },
        v instanceof Node ? v : String(v ?? '')));
    });
    body.append(tr);
  }
  return h(`table.data${cls ? '.' + cls : ''}`, { role: 'table' }, h('caption.visually-hidden', {}, caption), head, body);
}

/** Tabs following the WAI-ARIA tabs pattern (arrow keys move between tabs). */
export function tabs(label, items, onSelect, selected = items[0].id) {
  const list = h('div.tablist', { role: 'tablist', 'aria-label': label });
  const buttons = items.map((it) => h('button.tab', {
    type: 'button', role: 'tab', id: `tab-${it.id}`, 'aria-controls': `panel-${it.id}`,
    'aria-selected': String(it.id === selected), tabindex: it.id === selected ? '0' : '-1',
    onclick: () => select(it.id, true),
  }, it.label));
  list.append(...buttons);
  function select(id, focus) {
    for (const b of buttons) {
      const on = b.id === `tab-${id}`;
      b.setAttribute('aria-selected', String(on));
      b.tabIndex = on ? 0 : -1;
      if (on && focus) b.focus();
    }
    onSelect(id);
  }
  list.addEventListener('keydown', (e) => {
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    let j = null;
    if (e.key === 'ArrowRight') j = (i + 1) % buttons.length;
    else if (e.key === 'ArrowLeft') j = (i - 1 + buttons.length) % buttons.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = buttons.length - 1;
    if (j !== null) {
      e.preventDefault();
      select(items[j].id, true);
    }
  });
  return { el: list, select };
}

/** A message in the page's polite live region (and a toast people can see). */
export function announce(text, kind = 'info') {
  const region = document.getElementById('toasts');
  if (!region) return;
  const t = h(`div.toast.${kind}`, { role: kind === 'error' ? 'alert' : 'status' }, text);
  region.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

/** Runs `fn` every `ms` while the page is visible, never two at a time; `now()` runs it
 *  at once (or right after the running one), `stop()` ends it. */
export function every(ms, fn) {
  let timer = null;
  let stopped = false;
  let running = false;
  let again = false;
  async function tick() {
    if (stopped) return;
    clearTimeout(timer);
    running = true;
    if (!document.hidden) {
      try {
        await fn();
      } catch (err) {
        console.warn(err);
      }
    }
    running = false;
    if (stopped) return;
    if (again) {
      again = false;
      tick();
    } else {
      timer = setTimeout(tick, ms);
    }
  }
  tick();
  return {
    stop() { stopped = true; clearTimeout(timer); },
    now() { if (running) again = true; else tick(); },
  };
}

/** Unique ids for label/aria-describedby pairs. */
let seq = 0;
export const uid = (p = 'f') => `${p}-${++seq}`;
