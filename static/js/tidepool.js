// Small behaviours; every page works without JavaScript.
(function () {
  // Close the mobile menu after navigating.
  document.addEventListener("click", function (event) {
    var link = event.target.closest(".sidebar a");
    var toggle = document.getElementById("nav-toggle");
    if (link && toggle) { toggle.checked = false; }
  });
  // Close an open <details> menu when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) { menu.removeAttribute("open"); }
    });
  });
  // htmx: let 422 and 429 responses (validation errors, refusals, too many searches) swap in
  // like successful ones.
  // A 403 or 404 (a refused permission, a record one may not see) has no fragment to swap:
  // the whole error page is shown instead, so the user is never left with a silent click.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 422 || status === 429) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    } else if (status === 403 || status === 404) {
      event.detail.shouldSwap = false;
      document.open();
      document.write(event.detail.xhr.responseText);
      document.close();
    }
  });
})();
// Customer list: select all rows, and show the inputs the chosen batch action needs.
(function () {
  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-check-all]");
    if (all) {
      var form = all.closest("form");
      form.querySelectorAll('input[name="ids"]').forEach(function (box) { box.checked = all.checked; });
    }
    if (event.target.matches("[data-batch-action]")) { showBatchExtras(event.target); }
  });
  function showBatchExtras(select) {
    var form = select.closest("form");
    form.querySelectorAll(".batch-extra").forEach(function (el) {
      el.classList.toggle("shown", el.dataset.for.split(" ").indexOf(select.value) !== -1);
    });
  }
  function init() { document.querySelectorAll("[data-batch-action]").forEach(showBatchExtras); }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSwap", init);
})();
// The Content-Security-Policy (crm/settings.py) allows no inline script, no on…= and no
// style= attribute: the behaviours and the computed styles that pages need are set here,
// from data- attributes (styles set through the CSSOM from this file are allowed).
(function () {
  // <button data-confirm="Question?">: ask before the form is submitted.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  // <select data-autosubmit>: submit its form on change (the language menu).
  document.addEventListener("change", function (event) {
    var select = event.target.closest("[data-autosubmit]");
    if (select && select.form) { select.form.submit(); }
  });
  // Import form: show only the inputs of the chosen target (pool, users, department).
  function syncImportTargets(form) {
    var checked = form.querySelector("input[name=target]:checked");
    var target = checked ? checked.value : "";
    form.querySelectorAll(".import-target").forEach(function (box) {
      box.hidden = box.dataset.target.split(" ").indexOf(target) < 0;
    });
  }
  document.addEventListener("change", function (event) {
    var form = event.target.closest("#import-form");
    if (form) { syncImportTargets(form); }
  });
  function apply(root) {
    var form = root.querySelector ? root.querySelector("#import-form") : null;
    if (form) { syncImportTargets(form); }
    // A department's depth in the tree (classes depth-0…depth-9 cover most without JS).
    root.querySelectorAll("[data-depth]").forEach(function (el) {
      el.style.setProperty("--depth", el.dataset.depth);
    });
    // A progress bar's width.
    root.querySelectorAll("[data-percent]").forEach(function (el) {
      el.style.width = Math.max(0, Math.min(100, Number(el.dataset.percent) || 0)) + "%";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { apply(document); });
  document.addEventListener("htmx:load", function (event) {
    var el = event.target;
    apply(el.parentNode || document);
  });
})();
// The bell (templates/layouts/app.html): a click opens the dropdown of the latest notifications,
// loaded afresh with htmx at each opening; without JavaScript the bell is a link to the
// notifications page. The bell polls its count every 60 s and replaces only itself.
(function () {
  function parts() {
    var menu = document.querySelector("[data-bell-menu]");
    if (!menu) { return null; }
    return {
      menu: menu,
      bell: menu.querySelector("[data-bell-toggle]"),
      dropdown: menu.querySelector(".bell-dropdown")
    };
  }
  function setOpen(p, open) {
    p.dropdown.hidden = !open;
    if (p.bell) { p.bell.setAttribute("aria-expanded", open ? "true" : "false"); }
  }
  document.addEventListener("click", function (event) {
    var p = parts();
    if (!p) { return; }
    if (event.target.closest("[data-bell-toggle]")) {
      // A modified click (new tab, new window) follows the link.
      if (!window.htmx || event.button || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
      event.preventDefault();
      if (p.dropdown.hidden) {
        setOpen(p, true);
        window.htmx.ajax("GET", p.dropdown.dataset.url, { target: p.dropdown, swap: "innerHTML" });
      } else {
        setOpen(p, false);
      }
    } else if (!p.dropdown.hidden && !p.menu.contains(event.target)) {
      setOpen(p, false);
    }
  });
  document.addEventListener("keydown", function (event) {
    var p = parts();
    if (event.key === "Escape" && p && !p.dropdown.hidden) {
      setOpen(p, false);
      if (p.bell) { p.bell.focus(); }
    }
  });
  document.addEventListener("htmx:load", function (event) {
    var p = parts();
    if (p && event.target === p.bell) {
      p.bell.setAttribute("aria-expanded", p.dropdown.hidden ? "false" : "true");
    }
  });
})();
// Record pages (customer, lead): the tab bar ([data-tab-bar]) marks the tab of the URL's
// ?tab=. The server re-renders the bar out of band with every loaded tab; this keeps a page
// restored by back / forward (htmx's history snapshot) honest as well.
(function () {
  function syncTabs() {
    var bar = document.querySelector("[data-tab-bar]");
    if (!bar) { return; }
    var links = Array.prototype.slice.call(bar.querySelectorAll("[data-tab]"));
    var wanted = new URLSearchParams(window.location.search).get("tab");
    var current = links.filter(function (link) { return link.dataset.tab === wanted; })[0] || links[0];
    links.forEach(function (link) {
      var on = link === current;
      link.classList.toggle("active", on);
      link.setAttribute("aria-selected", on ? "true" : "false");
    });
  }
  document.addEventListener("htmx:historyRestore", syncTabs);
  window.addEventListener("popstate", function () { window.setTimeout(syncTabs, 0); });
})();
// The list pattern: "已选 N 项" in the batch bar (which tidepool.css shows only while rows are
// ticked), 取消 unticks them, one batch popover open at a time, and on a phone the 高级筛选
// panel closes after a search (the results come first).
(function () {
  function countSelected(form) {
    var n = form.querySelectorAll('input[name="ids"][type="checkbox"]:checked').length;
    form.querySelectorAll("[data-batch-count]").forEach(function (el) { el.textContent = String(n); });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches('input[name="ids"], [data-check-all]')) {
      var list = event.target.closest(".list-form") || event.target.closest("form");
      if (list) { countSelected(list); }
    }
  });
  document.addEventListener("click", function (event) {
    var clear = event.target.closest("[data-batch-clear]");
    if (clear) {
      var form = clear.closest(".list-form") || clear.closest("form");
      form.querySelectorAll('input[name="ids"][type="checkbox"], [data-check-all]').forEach(function (box) { box.checked = false; });
      countSelected(form);
    }
    var summary = event.target.closest(".batch-pop > summary");
    document.querySelectorAll(".batch-pop[open]").forEach(function (pop) {
      if (!pop.contains(event.target) || (summary && summary.parentElement !== pop)) { pop.removeAttribute("open"); }
    });
  });
  function init() {
    document.querySelectorAll(".list-form").forEach(countSelected);
    if (window.matchMedia("(max-width: 639.98px)").matches) {
      document.querySelectorAll("details[data-advanced][open]").forEach(function (panel) { panel.removeAttribute("open"); });
    }
  }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSwap", function () { document.querySelectorAll(".list-form").forEach(countSelected); });
})();
