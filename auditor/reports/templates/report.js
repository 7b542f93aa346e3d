// Findings table of the omics-ecr-audit HTML report.
//
// The findings are embedded once, as JSON: the rows in <script id="findings-data">, parsed on load, and
// their evidence (most of a large report's bytes) in <script id="evidence-data">, parsed when a row is
// first expanded. Only one page of rows is in the DOM at a time, so the page stays responsive with tens
// of thousands of findings. Data is only ever put into the page through textContent and element
// properties, never parsed as HTML.
//
// The status filter starts on the problems (the checkboxes' `checked` in the page: FAIL and ERROR); the
// "All findings" button shows PASS, MUTED and NOT_APPLICABLE too, and "Reset filters" goes back to the start.
'use strict';

(() => {
  const PAGE_SIZE = 100;
  const PROBLEMS = new Set(['FAIL', 'ERROR']);

  const byId = (id) => document.getElementById(id);
  const data = JSON.parse(byId('findings-data').textContent);
  const rows = data.findings;
  // Column positions in a row, by name (the report's ROW_FIELDS).
  const F = Object.fromEntries(data.fields.map((name, i) => [name, i]));

  const form = byId('filters');
  const table = byId('findings-table');
  const tbody = byId('findings-body');
  const showing = byId('showing');
  const pager = byId('pager');
  const pageLabel = byId('page-label');
  const prev = byId('page-prev');
  const next = byId('page-next');
  const onlyNew = byId('filter-new'); // absent when the report has no previous run
  const search = byId('filter-search');
  const quick = byId('quick');
  const showProblems = byId('show-problems');
  const showAll = byId('show-all');
  const statusBoxes = [...form.querySelectorAll('input[name="status"]')];
  const selects = { rule: byId('filter-rule'), account: byId('filter-account'), region: byId('filter-region') };
  const lookups = { rule: data.rules, account: data.accounts, region: data.regions };

  const state = { sortKey: null, sortDir: 1, page: 0 };
  const expanded = new Set(); // row indexes whose details are open
  let ordered = rows.map((_, i) => i); // every row index, in the current sort order
  let visible = ordered; // the filtered subset of `ordered`
  let haystack = null; // lower-cased searchable text per row, built on the first search
  let allEvidence = null; // every row's evidence, parsed on the first expand

  const fmt = (n) => n.toLocaleString('en-US');

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function badge(text, className) {
    return el('span', `badge ${className}`, text);
  }

  // --- filtering and sorting ------------------------------------------------------------

  function checkedSet(name, list) {
    const on = new Set([...form.querySelectorAll(`input[name="${name}"]:checked`)].map((input) => input.value));
    return list.map((value) => on.has(value));
  }

  function readFilters() {
    const index = (key) => (selects[key].value === '' ? -1 : lookups[key].indexOf(selects[key].value));
    return {
      status: checkedSet('status', data.statuses),
      severity: checkedSet('severity', data.severities),
      rule: index('rule'),
      account: index('account'),
      region: index('region'),
      text: search.value.trim().toLowerCase(),
      onlyNew: Boolean(onlyNew && onlyNew.checked),
    };
  }

  function buildHaystack() {
    return rows.map((r) =>
      [data.rules[r[F.rule]], r[F.resource], r[F.message], data.accounts[r[F.account]], data.regions[r[F.region]]]
        .join('\n')
        .toLowerCase(),
    );
  }

  function applyFilters() {
    const f = readFilters();
    if (f.text && haystack === null) haystack = buildHaystack();
    visible = ordered.filter((i) => {
      const r = rows[i];
      return (
        f.status[r[F.status]] &&
        f.severity[r[F.severity]] &&
        (f.rule < 0 || r[F.rule] === f.rule) &&
        (f.account < 0 || r[F.account] === f.account) &&
        (f.region < 0 || r[F.region] === f.region) &&
        (!f.onlyNew || r[F.new] === 1) &&
        (!f.text || haystack[i].includes(f.text))
      );
    });
  }

  function sortRows() {
    const all = rows.map((_, i) => i);
    if (state.sortKey === null) {
      ordered = all; // the document's own order: worst first
      return;
    }
    // Lookup lists are ordered (statuses and severities worst first, names alphabetically), so a
    // column holding lookup indexes sorts correctly by comparing the indexes.
    const col = F[state.sortKey];
    const dir = state.sortDir;
    // Ties keep the document's order in both directions, so a re-sort never shuffles equal rows.
    ordered = all.sort((a, b) => {
      const x = rows[a][col];
      const y = rows[b][col];
      if (x < y) return -dir;
      if (x > y) return dir;
      return a - b;
    });
  }

  // --- rendering --------------------------------------------------------------------------

  function rowElement(i) {
    const r = rows[i];
    const status = data.statuses[r[F.status]];
    const severity = data.severities[r[F.severity]];
    const tr = el('tr', `row st-row-${status}`);
    tr.dataset.row = String(i);

    const toggle = el('button', '', expanded.has(i) ? '▾' : '▸');
    toggle.type = 'button';
    toggle.dataset.toggle = String(i);
    toggle.setAttribute('aria-expanded', String(expanded.has(i)));
    toggle.setAttribute('aria-controls', `detail-${i}`);
    toggle.setAttribute('aria-label', `Details of ${r[F.resource]}`);
    const toggleCell = el('td', 'toggle');
    toggleCell.append(toggle);

    const statusCell = el('td', 'status');
    statusCell.append(badge(status, `st-${status}`));
    if (r[F.new] === 1) statusCell.append(' ', badge('new', 'new'));
    const severityCell = el('td', 'severity');
    severityCell.append(badge(severity, `sev-${severity}`));

    tr.append(
      toggleCell,
      statusCell,
      severityCell,
      el('td', 'rule', data.rules[r[F.rule]]),
      el('td', 'account', data.accounts[r[F.account]]),
      el('td', 'region', data.regions[r[F.region]]),
      el('td', 'resource', r[F.resource]),
      messageCell(r[F.message]),
    );
    return tr;
  }

  function messageCell(text) {
    // Clamped to three lines in the table (a div: clamping a table cell itself breaks its layout).
    const td = el('td', 'message');
    td.append(el('div', 'clamp', text));
    return td;
  }

  function definitions(pairs) {
    const dl = el('dl');
    for (const [term, value] of pairs) dl.append(el('dt', '', term), el('dd', '', value));
    return dl;
  }

  function evidenceOf(i) {
    if (allEvidence === null) allEvidence = JSON.parse(byId('evidence-data').textContent);
    return allEvidence[i];
  }

  function detailElement(i) {
    const r = rows[i];
    const evidence = evidenceOf(i);
    const account = data.accounts[r[F.account]];
    const tr = el('tr', 'detail');
    tr.id = `detail-${i}`;
    const td = el('td');
    td.colSpan = 8;

    td.append(
      definitions([
        ['Finding id', r[F.id]],
        ['Rule', `${data.rules[r[F.rule]]}: ${data.titles[r[F.title]]}`],
        ['Resource', r[F.resource]],
        ['Message', r[F.message]],
      ]),
    );

    const suppression = evidence && evidence.suppression;
    if (data.statuses[r[F.status]] === 'MUTED' && suppression) {
      td.append(
        el('h4', '', 'Accepted risk'),
        definitions([
          ['Reason', String(suppression.reason)],
          ['Owner', String(suppression.owner)],
          ['Expires', suppression.expires ? String(suppression.expires) : 'never'],
          ['Was', String(suppression.original_status)],
        ]),
      );
    }

    td.append(el('h4', '', 'Remediation'), el('p', 'remediation', data.remediations[r[F.remediation]]));

    td.append(el('h4', '', 'Command'));
    // An expired suppression for every account ("*") or a cell whose account was never learned ("unknown").
    if (account !== '*' && account !== 'unknown') {
      td.append(el('p', 'note', `Run with credentials for account ${account}.`));
    }
    const list = el('ul', 'commands');
    for (const { label, command } of data.commands[r[F.commands]]) {
      const item = el('li');
      const pre = el('pre');
      pre.append(el('code', 'command', command));
      item.append(el('span', 'note', label), pre);
      list.append(item);
    }
    td.append(list);

    td.append(el('h4', '', 'Evidence'), el('pre', 'evidence', JSON.stringify(evidence, null, 2)));
    tr.append(td);
    return tr;
  }

  function render() {
    const total = visible.length;
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * PAGE_SIZE;
    const end = Math.min(start + PAGE_SIZE, total);

    const fragment = document.createDocumentFragment();
    for (let k = start; k < end; k += 1) {
      const i = visible[k];
      fragment.append(rowElement(i));
      if (expanded.has(i)) fragment.append(detailElement(i));
    }
    tbody.replaceChildren(fragment);

    const filtered = total === rows.length ? '' : ` (filtered from ${fmt(rows.length)})`;
    showing.textContent =
      total === 0
        ? `No finding matches these filters${filtered}`
        : `Showing ${fmt(start + 1)}–${fmt(end)} of ${fmt(total)} findings${filtered}`;
    pageLabel.textContent = `Page ${fmt(state.page + 1)} of ${fmt(pages)}`;
    prev.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
  }

  function refresh() {
    applyFilters();
    state.page = 0;
    render();
    markPreset();
  }

  // --- the two one-click views: the problems, or everything ------------------------------

  function markPreset() {
    const on = statusBoxes.filter((box) => box.checked).map((box) => box.value);
    const problems = on.length === PROBLEMS.size && on.every((value) => PROBLEMS.has(value));
    showProblems.setAttribute('aria-pressed', String(problems));
    showAll.setAttribute('aria-pressed', String(on.length === statusBoxes.length));
  }

  function showStatuses(keep) {
    for (const box of statusBoxes) box.checked = keep(box.value);
    refresh();
  }

  // --- events ---------------------------------------------------------------------------

  function toggleDetails(button) {
    const i = Number(button.dataset.toggle);
    const tr = button.closest('tr');
    if (expanded.has(i)) {
      expanded.delete(i);
      const detail = byId(`detail-${i}`);
      if (detail) detail.remove();
    } else {
      expanded.add(i);
      tr.after(detailElement(i));
    }
    button.setAttribute('aria-expanded', String(expanded.has(i)));
    button.textContent = expanded.has(i) ? '▾' : '▸';
  }

  function sortBy(key) {
    state.sortDir = state.sortKey === key ? -state.sortDir : 1;
    state.sortKey = key;
    for (const button of table.querySelectorAll('th button[data-sort]')) {
      const th = button.closest('th');
      const active = button.dataset.sort === key;
      th.setAttribute('aria-sort', active ? (state.sortDir === 1 ? 'ascending' : 'descending') : 'none');
    }
    sortRows();
    refresh();
  }

  function resetFilters() {
    // Back to the page's own defaults: the problems (or everything, when nothing failed), every severity.
    for (const box of form.querySelectorAll('input[type="checkbox"]')) box.checked = box.defaultChecked;
    for (const select of Object.values(selects)) select.value = '';
    search.value = '';
    refresh();
  }

  function fillSelect(select, values) {
    for (const value of values) {
      const option = el('option', '', value);
      option.value = value;
      select.append(option);
    }
  }

  function init() {
    for (const [key, select] of Object.entries(selects)) fillSelect(select, lookups[key]);
    for (const button of table.querySelectorAll('th button[data-sort]')) {
      button.addEventListener('click', () => sortBy(button.dataset.sort));
    }
    form.addEventListener('input', refresh);
    form.addEventListener('submit', (event) => event.preventDefault());
    byId('filter-reset').addEventListener('click', resetFilters);
    showProblems.addEventListener('click', () => showStatuses((value) => PROBLEMS.has(value)));
    showAll.addEventListener('click', () => showStatuses(() => true));
    tbody.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-toggle]');
      if (button) toggleDetails(button);
    });
    prev.addEventListener('click', () => {
      state.page -= 1;
      render();
    });
    next.addEventListener('click', () => {
      state.page += 1;
      render();
    });
    // Printing shows what is collapsed on screen.
    window.addEventListener('beforeprint', () => {
      for (const details of document.querySelectorAll('details')) details.open = true;
    });
    form.hidden = false;
    quick.hidden = false;
    table.hidden = false;
    pager.hidden = false;
    refresh();
  }

  init();
})();
