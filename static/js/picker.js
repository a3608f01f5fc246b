// picker: searchable user and department pickers (crm/widgets.py).
// <select data-user-picker> / <select data-department-picker> become Tom Select controls
// (static/vendor/tom-select/, loaded before this file). The options are the select's own:
// each user option carries data-name, data-username and data-department, so the list is
// searched by name, username and department without asking the server. Without JavaScript,
// or before this runs, the plain select works.
// CSP: no inline code or style= attribute; Tom Select sets its sizes through the CSSOM.
(function () {
  "use strict";

  var SELECTOR = "select[data-user-picker], select[data-department-picker]";

  function renderUser(data, escape) {
    var name = data.name || data.text;
    var department = data.department
      ? '<span class="picker-dept">' + escape(data.department) + "</span>"
      : "";
    return '<div class="picker-option"><span class="picker-name">' + escape(name) + "</span>" +
      department + "</div>";
  }

  function renderUserItem(data, escape) {
    var title = data.department ? ' title="' + escape(data.department) + '"' : "";
    return "<div" + title + ">" + escape(data.name || data.text) + "</div>";
  }

  function renderDepartment(data, escape) {
    // The label is indented with full-width spaces by depth: keep the tree in the list,
    // show the plain name once chosen.
    return '<div class="picker-option">' + escape(data.text) + "</div>";
  }

  function renderDepartmentItem(data, escape) {
    return "<div>" + escape(data.text.trim()) + "</div>";
  }

  // A select restored from a snapshot (htmx history) may carry Tom Select's markup without
  // its instance: drop the leftover control so that it is built once.
  function clearLeftover(select) {
    var next = select.nextElementSibling;
    if (next && next.classList.contains("ts-wrapper")) { next.remove(); }
    select.classList.remove("tomselected", "ts-hidden-accessible");
    select.removeAttribute("tabindex");
  }

  function build(select) {
    if (select.tomselect || typeof window.TomSelect !== "function") { return; }
    if (select.classList.contains("tomselected")) { clearLeftover(select); }
    var users = select.hasAttribute("data-user-picker");
    var multiple = select.multiple;
    var settings = {
      maxOptions: 500,
      hideSelected: multiple,
      // (hidePlaceholder stays Tom Select's default: in a multiple picker the text box never
      // hides on blur, so the form does not jump under the pointer on its way to the button.)
      // The list closes on a choice, so that it never covers the form's button (typing
      // opens it again for the next person).
      closeAfterSelect: true,
      plugins: multiple ? ["remove_button"] : [],
      searchField: users ? ["text", "name", "username", "department"] : ["text"],
      render: {
        option: users ? renderUser : renderDepartment,
        item: users ? renderUserItem : renderDepartmentItem,
        no_results: function (data, escape) {
          var text = select.getAttribute("data-no-results") || "—";
          return '<div class="no-results">' + escape(text) + "</div>";
        },
      },
      // Several people: once one is chosen, the typed text goes, ready for the next.
      onItemAdd: function () {
        if (multiple) {
          this.setTextboxValue("");
          this.refreshOptions(false);
        }
      },
      onInitialize: function () {
        this.wrapper.classList.add("picker", users ? "picker-users" : "picker-departments");
      },
    };
    if (!multiple) {
      // Single choice: an optional field keeps a way back to "nobody".
      var empty = select.querySelector('option[value=""]');
      if (empty) { settings.plugins = ["clear_button"]; }
    }
    // eslint-disable-next-line no-new
    new window.TomSelect(select, settings);
  }

  function buildAll(root) {
    if (!root || !root.querySelectorAll) { return; }
    if (root.matches && root.matches(SELECTOR)) { build(root); }
    root.querySelectorAll(SELECTOR).forEach(build);
  }

  document.addEventListener("DOMContentLoaded", function () { buildAll(document); });
  // htmx:load fires for every element htmx adds (and for the body at start).
  document.addEventListener("htmx:load", function (event) { buildAll(event.detail.elt || event.target); });
  // A form reset puts the selects back; the pickers follow them.
  document.addEventListener("reset", function (event) {
    var form = event.target;
    window.setTimeout(function () {
      form.querySelectorAll(SELECTOR).forEach(function (select) {
        if (select.tomselect) { select.tomselect.sync(); }
      });
    }, 0);
  });
})();
