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
  // htmx: let 422 responses (validation errors) swap in like successful ones.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
