// product-picker: the product picker (templates/opportunities/product_picker.html) and its
// dialog (product_picker_dialog.html).
// - Keyboard: in the search box ↓ goes to the first product; in the list ↑ ↓ Home End move,
//   Enter or Space chooses (the options are buttons), Esc goes back to the search box.
// - A choice fires "product:picked" (detail: the product) on the line row that opened the
//   dialog (or on the picker), fills that row's [data-product-field] elements and closes the
//   dialog. On the picker's own page a choice opens the product.
// - The dialog loads the picker with htmx the first time it opens.
// CSP: no inline code; loaded once (base.html, or the picker page itself).
(function () {
  "use strict";
  if (window.tidepoolProductPicker) { return; }
  window.tidepoolProductPicker = true;

  var openerRow = null;

  function options(picker) {
    return Array.prototype.slice.call(picker.querySelectorAll("[data-pp-option]"));
  }

  function focusOption(picker, index) {
    var list = options(picker);
    if (!list.length) { return; }
    index = Math.max(0, Math.min(list.length - 1, index));
    list.forEach(function (el, i) {
      el.setAttribute("aria-selected", i === index ? "true" : "false");
      el.tabIndex = i === index ? 0 : -1;
    });
    list[index].focus();
  }

  function productOf(option) {
    var d = option.dataset;
    return {
      id: d.productId,
      code: d.productCode || "",
      name: d.productName || "",
      spec: d.productSpec || "",
      unit: d.productUnit || "",
      price: d.productPrice || "",
      last_price: d.productLastPrice || "",
      label: d.productLabel || d.productName || "",
      unit_price: d.productLastPrice || d.productPrice || "",
      url: d.productUrl || "",
    };
  }

  function setField(el, value, product) {
    if (el.tagName === "SELECT") {
      var found = Array.prototype.some.call(el.options, function (o) { return o.value === String(value); });
      if (!found) {
        var option = document.createElement("option");
        option.value = value;
        option.textContent = product.label;
        el.appendChild(option);
      }
      el.value = value;
      if (el.tomselect) { el.tomselect.sync(); }
    } else if (el.tagName === "INPUT" || el.tagName === "TEXTAREA") {
      el.value = value;
    } else {
      el.textContent = value;
    }
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function fill(row, product) {
    row.querySelectorAll("[data-product-field]").forEach(function (el) {
      var key = el.dataset.productField;
      if (!(key in product)) { return; }
      if (key === "unit_price" && el.value && !el.hasAttribute("data-product-overwrite")) { return; }
      setField(el, product[key], product);
    });
  }

  function choose(option) {
    var picker = option.closest("[data-product-picker]");
    var product = productOf(option);
    var dialog = option.closest("dialog[data-product-picker-dialog]");
    var row = dialog ? openerRow : null;
    if (row) { fill(row, product); }
    var target = row || picker || document.body;
    target.dispatchEvent(new CustomEvent("product:picked", { bubbles: true, detail: product }));
    if (dialog) {
      if (dialog.open) { dialog.close(); }
      var opener = row ? row.querySelector("[data-product-picker-open]") : null;
      if (opener) { opener.focus(); }
      return;
    }
    if (!row && picker && !picker.closest("[data-product-line]") && product.url &&
        !picker.hasAttribute("data-picker-embedded")) {
      window.location.href = product.url;
    }
  }

  document.addEventListener("click", function (event) {
    var option = event.target.closest("[data-pp-option]");
    if (option) {
      event.preventDefault();
      choose(option);
      return;
    }
    var opener = event.target.closest("[data-product-picker-open]");
    if (opener) {
      event.preventDefault();
      openDialog(opener);
    }
  });

  document.addEventListener("keydown", function (event) {
    var picker = event.target.closest ? event.target.closest("[data-product-picker]") : null;
    if (!picker) { return; }
    var list = options(picker);
    var input = picker.querySelector("[data-pp-input]");
    if (event.target.matches("[data-pp-input]")) {
      if (event.key === "ArrowDown" && list.length) {
        event.preventDefault();
        focusOption(picker, 0);
      } else if (event.key === "Enter") {
        // Enter searches now (the form's submit is the htmx request); with one result it
        // is chosen at once.
        if (list.length === 1) { event.preventDefault(); choose(list[0]); }
      }
      return;
    }
    var option = event.target.closest("[data-pp-option]");
    if (!option) { return; }
    var index = list.indexOf(option);
    if (event.key === "ArrowDown") { event.preventDefault(); focusOption(picker, index + 1); }
    else if (event.key === "ArrowUp") {
      event.preventDefault();
      if (index <= 0 && input) { input.focus(); } else { focusOption(picker, index - 1); }
    }
    else if (event.key === "Home") { event.preventDefault(); focusOption(picker, 0); }
    else if (event.key === "End") { event.preventDefault(); focusOption(picker, list.length - 1); }
    else if (event.key === "Escape" && input) {
      // Inside a dialog, Esc from the list goes back to the search box (the next closes).
      event.preventDefault();
      input.focus();
    }
  });

  function openDialog(opener) {
    var dialog = document.querySelector("dialog[data-product-picker-dialog]");
    if (!dialog || typeof dialog.showModal !== "function") { return; }
    openerRow = opener.closest("[data-product-line]") || opener.closest("[data-line-row]");
    if (!dialog.open) { dialog.showModal(); }
    var slot = dialog.querySelector("[data-pp-slot]");
    if (slot && !slot.hasAttribute("data-loaded") && window.htmx) {
      slot.setAttribute("data-loaded", "");
      window.htmx.ajax("GET", dialog.dataset.pickerUrl, { target: slot, swap: "innerHTML" }).then(function () {
        var input = dialog.querySelector("[data-pp-input]");
        if (input) { input.focus(); }
      });
    } else {
      var input = dialog.querySelector("[data-pp-input]");
      if (input) { input.focus(); input.select(); }
    }
  }

  // The dialog's close button and a click on its backdrop.
  document.addEventListener("click", function (event) {
    var dialog = event.target.closest ? event.target.closest("dialog[data-product-picker-dialog]") : null;
    if (!dialog) { return; }
    if (event.target === dialog || event.target.closest("[data-dialog-close]")) { dialog.close(); }
  });

  // New results: the first option is the one ↓ reaches; none is marked chosen yet.
  document.addEventListener("htmx:afterSwap", function (event) {
    var el = event.detail && event.detail.elt;
    var picker = el && el.closest ? el.closest("[data-product-picker]") : null;
    if (!picker) { return; }
    var list = options(picker);
    if (list.length) { list[0].tabIndex = 0; }
  });
})();
