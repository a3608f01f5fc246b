// regions: the cascading 省 / 市 / 区 selects (crm/regions.py). Each select carries
// data-region-level (province, city, district), data-region-group (selects of one picker
// share it within their form) and data-regions-src (the bundled table, static JSON, fetched
// once on the first change). Changing a level refills the level below from the table and
// empties the ones under it. The server renders the options of the chosen values, so
// nothing runs on page load, and the form works without this file.
(function () {
  "use strict";

  var LEVELS = ["province", "city", "district"];
  var tables = {};

  function load(src) {
    if (!tables[src]) {
      tables[src] = fetch(src, { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("regions: " + response.status);
          return response.json();
        })
        .catch(function (error) {
          delete tables[src];
          throw error;
        });
    }
    return tables[src];
  }

  // The names under path ([] -> provinces, [p] -> its cities, [p, c] -> its districts).
  function namesUnder(table, path) {
    var nodes = table.provinces;
    for (var i = 0; i < path.length; i++) {
      var found = null;
      for (var j = 0; j < nodes.length; j++) {
        if (nodes[j][0] === path[i]) { found = nodes[j]; break; }
      }
      if (!found) return [];
      nodes = found[1];
    }
    return nodes.map(function (node) { return typeof node === "string" ? node : node[0]; });
  }

  function siblings(select) {
    var scope = select.form || document;
    var group = select.getAttribute("data-region-group");
    var found = {};
    scope.querySelectorAll("select[data-region-group]").forEach(function (el) {
      if (el.getAttribute("data-region-group") === group) {
        found[el.getAttribute("data-region-level")] = el;
      }
    });
    return found;
  }

  // Keep the placeholder (the empty first option), replace the rest with names.
  function fill(select, names) {
    var placeholder = select.options.length && select.options[0].value === ""
      ? select.options[0].textContent : "";
    select.textContent = "";
    var empty = document.createElement("option");
    empty.value = "";
    empty.textContent = placeholder;
    select.appendChild(empty);
    names.forEach(function (name) {
      var option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      select.appendChild(option);
    });
    select.value = "";
  }

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!(select instanceof HTMLSelectElement) || !select.hasAttribute("data-region-level")) return;
    var level = LEVELS.indexOf(select.getAttribute("data-region-level"));
    var all = siblings(select);
    var below = LEVELS.slice(level + 1).map(function (name) { return all[name]; })
      .filter(Boolean);
    if (!below.length) return;
    var path = LEVELS.slice(0, level + 1).map(function (name) {
      return all[name] ? all[name].value : "";
    });
    // Until the table arrives the lower levels are empty (never a stale city).
    below.forEach(function (el) { fill(el, []); });
    if (!select.value) return;
    load(select.getAttribute("data-regions-src")).then(function (table) {
      if (select.value !== path[level]) return; // changed again meanwhile
      fill(below[0], namesUnder(table, path));
      below[0].dispatchEvent(new Event("regions:filled", { bubbles: true }));
    }).catch(function () { /* the server still checks the values on save */ });
  });
})();
