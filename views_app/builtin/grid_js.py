"""The browser side of the table view: an AG Grid infinite-row-model datasource that reads pages
from the rows API and turns AG Grid's sort and filter models into the API's parameters, so the
database does all sorting, filtering and searching."""

from __future__ import annotations

import json

KEY_FIELD = "__nocoflo_key__"

_DATASOURCE = """(() => {
  const url = %(url)s, kinds = %(kinds)s, gridId = %(grid_id)s, keyField = %(key_field)s;
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
      // After a refresh the count is asked again, whichever block the grid reloads first.
      const recount = window.nocofloRecount || {};
      if (recount[gridId]) {
        qs.set('count', 'true');
        delete recount[gridId];
      }
      fetch(url + '?' + qs, {credentials: 'same-origin', headers: {Accept: 'application/json'}})
        .then(async (response) => {
          const body = await response.json().catch(() => ({message: response.statusText}));
          if (!response.ok) {
            params.failCallback();
            emitEvent('nocoflo-grid-error-' + gridId, body.message || 'The rows could not be read');
            return;
          }
          const rows = body.rows.map((r) => ({...r.values, [keyField]: r.key}));
          let last = -1;
          if (body.count !== null && body.count !== undefined) {
            last = body.count;
            emitEvent('nocoflo-grid-count-' + gridId, body.count);
          } else if (!body.next) {
            last = params.startRow + rows.length;
          }
          params.successCallback(rows, last);
        })
        .catch((error) => {
          params.failCallback();
          emitEvent('nocoflo-grid-error-' + gridId, 'The server cannot be reached: ' + error);
        });
    },
  };
})()"""


def datasource_js(url: str, kinds: dict[str, str], grid_id: int) -> str:
    """The JavaScript of the grid's datasource for one table."""
    return _DATASOURCE % {
        "url": json.dumps(url),
        "kinds": json.dumps(kinds),
        "grid_id": json.dumps(grid_id),
        "key_field": json.dumps(KEY_FIELD),
    }


def recount_js(grid_id: int) -> str:
    """Make the grid's next rows request ask for the count again."""
    return f"(window.nocofloRecount = window.nocofloRecount || {{}})[{grid_id}] = true;"


def set_search_js(grid_id: int, text: str) -> str:
    return f"(window.nocofloSearch = window.nocofloSearch || {{}})[{grid_id}] = {json.dumps(text)};"
