"""The browser side of the table view: an AG Grid infinite-row-model datasource that reads pages
from the rows API and turns AG Grid's sort and filter models into the API's parameters, so the
database does all sorting, filtering and searching; and what other people's work looks like in
the grid: rows they are editing (locked), rows they changed."""

from __future__ import annotations

import json

KEY_FIELD = "__nocoflo_key__"

# The count line's words, as views_app.counts.rows_text says them (tests hold the two together):
# the grid shows its count as soon as the rows arrive, without waiting for the server's answer.
ROWS_TEXT = """(count, accuracy) => {
  const n = Math.round(Number(count)), group = (x) => x.toLocaleString('en-US');
  let words = group(n);
  if (accuracy === 'at_least') {
    words = 'more than ' + group(n);
  } else if (accuracy === 'estimate' && n >= 1000000) {
    const tenths = Math.floor((n + 50000) / 100000);
    words = 'about ' + group(Math.floor(tenths / 10)) + (tenths % 10 ? '.' + (tenths % 10) : '')
      + ' million';
  } else if (accuracy === 'estimate') {
    const step = 10 ** Math.max(String(n).length - 3, 0);
    words = 'about ' + group(Math.floor((n + Math.floor(step / 2)) / step) * step);
  }
  return words + (n === 1 && accuracy === 'exact' ? ' row' : ' rows');
}"""

_DATASOURCE = """(() => {
  const url = %(url)s, kinds = %(kinds)s, gridId = %(grid_id)s, keyField = %(key_field)s;
  const countId = %(count_id)s, rowsText = %(rows_text)s;
  const ops = {equals: 'eq', notEqual: 'ne', lessThan: 'lt', lessThanOrEqual: 'lte',
               greaterThan: 'gt', greaterThanOrEqual: 'gte', contains: 'contains',
               startsWith: 'startswith'};
  const endOfDay = (col, d) => kinds[col] === 'datetime' && d ? d + ' 23:59:59.999999' : d;
  const one = (col, m) => {
    if (m.operator) return m.conditions.flatMap((c) => one(col, c));
    if (m.type === 'blank') return [{column: col, op: 'isnull'}];
    if (m.type === 'notBlank') return [{column: col, op: 'notnull'}];
    const isDate = m.filterType === 'date';
    const from = isDate ? (m.dateFrom || '').slice(0, 10) : m.filter;
    const to = isDate ? (m.dateTo || '').slice(0, 10) : m.filterTo;
    if (m.type === 'inRange') {
      return [{column: col, op: 'gte', value: from},
              {column: col, op: 'lte', value: isDate ? endOfDay(col, to) : to}];
    }
    if (isDate && kinds[col] === 'datetime') {
      if (m.type === 'equals') {
        return [{column: col, op: 'gte', value: from},
                {column: col, op: 'lte', value: endOfDay(col, from)}];
      }
      if (m.type === 'greaterThan') return [{column: col, op: 'gt', value: endOfDay(col, from)}];
    }
    return [{column: col, op: ops[m.type] || 'eq', value: from}];
  };
  // The saved grid settings keep the filters in the API's shape too (charts read them).
  (window.nocofloFiltersOf = window.nocofloFiltersOf || {})[gridId] = (model) =>
    Object.entries(model || {}).flatMap(([col, m]) => one(col, m));
  // Keyset paging: a block that starts where an earlier one ended goes on from that block's
  // cursor, so scrolling down never makes the database skip `offset` rows. A few hundred
  // cursors per grid, for the current sort, filters and search only.
  const cursors = (window.nocofloCursors = window.nocofloCursors || {});
  const cursorFor = (shape) => {
    if (!cursors[gridId] || cursors[gridId].shape !== shape) {
      cursors[gridId] = {shape, at: new Map()};
    }
    return cursors[gridId].at;
  };
  return {
    getRows: (params) => {
      const qs = new URLSearchParams({offset: params.startRow,
                                      limit: params.endRow - params.startRow});
      const sort = params.sortModel.map((s) => (s.sort === 'desc' ? '-' : '') + s.colId);
      if (sort.length) qs.set('sort', JSON.stringify(sort));
      const filters = Object.entries(params.filterModel || {}).flatMap(([col, m]) => one(col, m));
      if (filters.length) qs.set('filters', JSON.stringify(filters));
      const q = (window.nocofloSearch || {})[gridId];
      if (q) qs.set('q', q);
      // What the grid shows now, for an export of the same rows.
      (window.nocofloQuery = window.nocofloQuery || {})[gridId] = {
        sort: qs.get('sort'), filters: qs.get('filters'), q: qs.get('q')};
      const known = cursorFor(JSON.stringify([qs.get('sort'), qs.get('filters'), q]));
      if (params.startRow > 0 && known.has(params.startRow)) {
        qs.delete('offset');
        qs.set('cursor', known.get(params.startRow));
      }
      // After a refresh the count is asked again, whichever block the grid reloads first;
      // 'exact' when the user asked for every row to be counted.
      const recount = window.nocofloRecount || {};
      if (recount[gridId]) {
        qs.set(recount[gridId] === 'exact' ? 'exact_count' : 'count', 'true');
        delete recount[gridId];
      }
      fetch(url + '?' + qs, {credentials: 'same-origin', headers: {Accept: 'application/json'}})
        .then(async (response) => {
          const body = await response.json().catch(() => ({message: response.statusText}));
          if (!response.ok) {
            params.failCallback();
            emitEvent('nocoflo-grid-error-' + gridId, {
              message: body.message || 'The rows could not be read', status: response.status});
            return;
          }
          const rows = body.rows.map((r) => ({...r.values, [keyField]: r.key}));
          if (body.next) {
            known.set(params.startRow + rows.length, body.next);
            if (known.size > 500) known.delete(known.keys().next().value);
          }
          const counted = body.count !== null && body.count !== undefined;
          const exact = counted && (body.count_accuracy || 'exact') === 'exact';
          let last = -1;
          if (exact) {
            last = body.count;
          } else if (!body.next) {
            last = params.startRow + rows.length;
          }
          params.successCallback(rows, last);
          const grid = typeof getElement === 'function' ? getElement(gridId) : null;
          if (counted) {
            // Rows and count show at once; the server, told next, says the same.
            const label = typeof document === 'object' && document.getElementById(countId);
            if (label) label.textContent = rowsText(body.count, body.count_accuracy || 'exact');
            if (grid && grid.api) grid.api.setGridOption('loading', false);
            emitEvent('nocoflo-grid-count-' + gridId,
                      {count: body.count, accuracy: body.count_accuracy || 'exact'});
          }
          // An estimate or a lower bound sizes the scrollbar; the grid still asks for rows past
          // it until a block comes back short.
          if (counted && !exact && last < 0 && grid && grid.api) {
            grid.api.setRowCount(Math.max(body.count, params.startRow + rows.length), false);
          }
        })
        .catch((error) => {
          params.failCallback();
          emitEvent('nocoflo-grid-error-' + gridId,
                    {message: 'The server cannot be reached: ' + error, status: 0});
        });
    },
  };
})()"""


def datasource_js(url: str, kinds: dict[str, str], grid_id: int, count_id: str = "") -> str:
    """The JavaScript of the grid's datasource for one table; `count_id` is the element id of
    the count line it fills in."""
    return _DATASOURCE % {
        "url": json.dumps(url),
        "kinds": json.dumps(kinds),
        "grid_id": json.dumps(grid_id),
        "key_field": json.dumps(KEY_FIELD),
        "count_id": json.dumps(count_id),
        "rows_text": ROWS_TEXT,
    }


def recount_js(grid_id: int, exact: bool = False) -> str:
    """Make the grid's next rows request ask for the count again (every row counted when
    `exact`), and forget its cursors: rows may have come and gone since they were read."""
    flag = "'exact'" if exact else "true"
    return (
        f"(window.nocofloRecount = window.nocofloRecount || {{}})[{grid_id}] = {flag};"
        f" delete (window.nocofloCursors || {{}})[{grid_id}];"
    )


def set_search_js(grid_id: int, text: str) -> str:
    return f"(window.nocofloSearch = window.nocofloSearch || {{}})[{grid_id}] = {json.dumps(text)};"


# Rows someone else is editing, per grid: window.nocofloLocks[gridId][rowKey] = username. The
# grid's `context.gridId` tells its callbacks which map is theirs.
_LOCKED_BY = (
    "(p) => (p.data && ((window.nocofloLocks || {})[p.context && p.context.gridId] || {})"
    "[p.data[" + json.dumps(KEY_FIELD) + "]]) || null"
)

# A cell is editable unless someone else holds the row (the server refuses their write anyway).
EDITABLE_UNLESS_LOCKED = f"(p) => !({_LOCKED_BY})(p)"

ROW_LOCKED_RULE = f"(p) => !!({_LOCKED_BY})(p)"

# The row's first cell, with a lock and "<user> is editing" on rows someone else is editing.
_LOCK_BADGE = """(p) => {
  const box = document.createElement('span');
  const shown = p.valueFormatted !== undefined && p.valueFormatted !== null ? p.valueFormatted
    : p.value;
  box.textContent = shown === null || shown === undefined ? ''
    : (typeof shown === 'object' ? JSON.stringify(shown) : String(shown));
  const who = (%(locked_by)s)(p);
  if (who) {
    const badge = document.createElement('span');
    badge.className = 'nocoflo-lock';
    badge.title = who + ' is editing';
    badge.setAttribute('aria-label', who + ' is editing');
    const icon = document.createElement('i');
    icon.className = 'q-icon notranslate material-icons';
    icon.setAttribute('aria-hidden', 'true');
    icon.textContent = 'lock';
    badge.appendChild(icon);
    box.prepend(badge);
  }
  return box;
}"""
LOCK_BADGE_RENDERER = _LOCK_BADGE % {"locked_by": _LOCKED_BY}

LOCK_CSS = """
.nocoflo-grid .ag-row.nocoflo-row-locked { background-color: rgba(255, 179, 0, 0.16); }
.nocoflo-grid .nocoflo-lock { color: #b26a00; margin-right: 4px; vertical-align: middle; }
.nocoflo-grid .nocoflo-lock .q-icon { font-size: 16px; }
"""

_SET_LOCKS = """(() => {
  const gridId = %(grid_id)s, changes = %(changes)s, replace = %(replace)s;
  const all = (window.nocofloLocks = window.nocofloLocks || {});
  const forgotten = replace ? Object.keys(all[gridId] || {}) : [];
  const touched = new Set([...Object.keys(changes), ...forgotten]);
  const locks = (all[gridId] = replace ? {} : (all[gridId] || {}));
  for (const [key, who] of Object.entries(changes)) {
    if (who) locks[key] = who; else delete locks[key];
  }
  const grid = getElement(gridId), api = grid && grid.api;
  if (!api) return;
  const nodes = [...touched].map((key) => api.getRowNode(key)).filter(Boolean);
  if (nodes.length) api.redrawRows({rowNodes: nodes});
})()"""


def set_locks_js(grid_id: int, changes: dict[str, str | None], replace: bool = False) -> str:
    """Mark rows as locked by someone (a username) or free (None); `replace` forgets the rest."""
    return _SET_LOCKS % {
        "grid_id": json.dumps(grid_id),
        "changes": json.dumps(changes, ensure_ascii=False),
        "replace": json.dumps(replace),
    }


_APPLY_ROW = """(() => {
  const gridId = %(grid_id)s, key = %(key)s, values = %(values)s, user = %(user)s;
  const grid = getElement(gridId), api = grid && grid.api;
  const node = api && api.getRowNode(key);
  if (!node || !node.data) return 0;
  const changed = Object.keys(values).filter(
    (column) => JSON.stringify(node.data[column]) !== JSON.stringify(values[column]));
  node.setData({...values, [%(key_field)s]: key});
  if (changed.length) {
    api.flashCells({rowNodes: [node], columns: changed});
    emitEvent('nocoflo-grid-changed-' + gridId, {user: user, cells: changed.length});
  }
  return changed.length;
})()"""


def apply_row_js(grid_id: int, key: str, values: dict, user: str) -> str:
    """Show a row someone else changed, if the grid has it loaded: new values, changed cells
    flashed, and the server told how many cells changed (to say who changed them)."""
    return _APPLY_ROW % {
        "grid_id": json.dumps(grid_id),
        "key": json.dumps(key),
        "values": json.dumps(values, ensure_ascii=False, default=str),
        "user": json.dumps(user, ensure_ascii=False),
        "key_field": json.dumps(KEY_FIELD),
    }


_CHOSEN_ROW = """/* nocofloChosenRow */ (() => {
  const grid = getElement(%(grid_id)s), api = grid && grid.api;
  if (!api) return {selected: [], focused: null};
  const keyOf = (node) => (node && node.data ? node.data[%(key_field)s] : null);
  const selected = api.getGridOption('rowSelection')
    ? api.getSelectedNodes().map(keyOf).filter(Boolean) : [];
  const cell = api.getFocusedCell();
  const row = cell && !cell.rowPinned ? api.getDisplayedRowAtIndex(cell.rowIndex) : null;
  return {selected, focused: keyOf(row)};
})()"""


def chosen_row_js(grid_id: int) -> str:
    """The keys of the selected rows and of the focused cell's row (`nocofloChosenRow`)."""
    return _CHOSEN_ROW % {"grid_id": json.dumps(grid_id), "key_field": json.dumps(KEY_FIELD)}


_EXPORT = """(() => {
  const api = (getElement(%(grid_id)s) || {}).api;
  if (!api) return;
  const shown = (window.nocofloQuery || {})[%(grid_id)s] || {};
  const qs = new URLSearchParams({format: %(format)s});
  for (const name of ['sort', 'filters', 'q']) if (shown[name]) qs.set(name, shown[name]);
  const columns = api.getAllDisplayedColumns().map((c) => c.getColId())
    .filter((id) => !id.startsWith('ag-Grid'));
  qs.set('columns', JSON.stringify(columns));
  // The answer is an attachment: the browser downloads it and the page stays.
  window.location.assign(%(url)s + '?' + qs);
})()"""


def export_js(grid_id: int, url: str, fmt: str) -> str:
    """Download the rows the grid shows (its filters, sort, search and visible columns)."""
    return _EXPORT % {
        "grid_id": json.dumps(grid_id), "url": json.dumps(url), "format": json.dumps(fmt),
    }  # fmt: skip


# Grid events that change what the user would want to find again next time. Which columns are
# shown is changed only by the Columns menu, and saved by the server.
SETTINGS_EVENTS = ("columnMoved", "columnResized", "sortChanged", "filterChanged")

_SETTINGS_CHANGED = """(e) => {
  // Only what the user did is saved: not the saved settings being applied, the Columns menu
  // (saved by the server), or the grid fitting its columns to its width.
  if (['api', 'gridInitializing', 'sizeColumnsToFit', 'flex'].includes(e.source)) return;
  if (e.type === 'columnResized' && !e.finished) return;
  const gridId = %(grid_id)s, api = e.api;
  const timers = (window.nocofloSettingsTimers = window.nocofloSettingsTimers || {});
  clearTimeout(timers[gridId]);
  // One save for a burst of changes (dragging a column fires many events).
  timers[gridId] = setTimeout(() => {
    if (api.isDestroyed()) return;
    const columns = api.getColumnState();
    const filterModel = api.getFilterModel();
    const sort = columns.filter((c) => c.sort)
      .sort((a, b) => (a.sortIndex || 0) - (b.sortIndex || 0))
      .map((c) => (c.sort === 'desc' ? '-' : '') + c.colId);
    const toFilters = (window.nocofloFiltersOf || {})[gridId];
    emitEvent('nocoflo-grid-settings-' + gridId, {
      columns, sort, filter_model: filterModel,
      filters: toFilters ? toFilters(filterModel) : [],
      q: (window.nocofloSearch || {})[gridId] || ''});
  }, %(delay)d);
}"""


def settings_changed_js(grid_id: int, delay_ms: int = 500) -> str:
    """The grid option handler that sends the grid's settings to the server after a change:
    column state (order, widths, hidden, sort), filter model, and the API-shaped filters/sort."""
    return _SETTINGS_CHANGED % {"grid_id": json.dumps(grid_id), "delay": delay_ms}
