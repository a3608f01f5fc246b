// Record pages (customer, lead): reason modals, the follow-up form's quick picks, the phone bar.
// Everything from data- attributes with delegation on document, so it keeps working after htmx
// swaps; without JavaScript each element is a plain link or form (see the templates).
(function () {
  // ---------------------------------------------------------------- reason modals
  // <a href="#id" data-dialog-open="id"> opens <dialog id="id" data-reason-modal> as a modal
  // (templates/components/reason_modal.html). Without JavaScript the link targets the dialog,
  // which record.css shows in place.
  function copyIds(dialog) {
    // data-ids-from="batch-form": the ticked rows of an outer form go into the modal's form.
    var source = dialog.dataset.idsFrom ? document.getElementById(dialog.dataset.idsFrom) : null;
    var form = dialog.querySelector("form");
    if (!source || !form) { return; }
    form.querySelectorAll("input[data-copied-id]").forEach(function (input) { input.remove(); });
    source.querySelectorAll('input[name="ids"]:checked').forEach(function (box) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "ids";
      input.value = box.value;
      input.setAttribute("data-copied-id", "");
      form.appendChild(input);
    });
  }
  function openDialog(dialog) {
    if (!dialog || typeof dialog.showModal !== "function") { return false; }
    copyIds(dialog);
    if (!dialog.open) { dialog.showModal(); }
    var first = dialog.querySelector("select, input:not([type=hidden]), textarea");
    if (first) { first.focus(); }
    return true;
  }
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-dialog-open]");
    if (opener) {
      var dialog = document.getElementById(opener.dataset.dialogOpen);
      if (dialog && dialog.hasAttribute("data-reason-modal") && openDialog(dialog)) {
        event.preventDefault();
        var menu = opener.closest("details[open]");
        if (menu) { menu.removeAttribute("open"); }
      }
      return;
    }
    var closer = event.target.closest("[data-dialog-close]");
    if (closer) {
      var open = closer.closest("dialog");
      if (open && open.open) {
        event.preventDefault();
        open.close();
      }
      return;
    }
    // A click on the backdrop (the dialog itself, outside its content box) closes it.
    if (event.target.matches && event.target.matches("dialog[data-reason-modal][open]")) {
      var box = event.target.getBoundingClientRect();
      var inside = event.clientX >= box.left && event.clientX <= box.right &&
        event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) { event.target.close(); }
    }
  });
  // Copy the ticked ids again at submission (the ticks may have changed since it opened);
  // capturing, so it runs before htmx reads the form.
  document.addEventListener("submit", function (event) {
    var dialog = event.target.closest && event.target.closest("dialog[data-reason-modal]");
    if (dialog) { copyIds(dialog); }
  }, true);
  // A successful answer closes the modal (its page's parts arrive out of band); a refusal
  // (422) swaps the form in place, the dialog staying open with the errors under the fields.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.requestConfig ? event.detail.requestConfig.elt : event.target;
    var dialog = elt && elt.closest ? elt.closest("dialog[data-reason-modal]") : null;
    if (!dialog) { return; }
    var status = event.detail.xhr.status;
    if (status >= 200 && status < 300 && dialog.open) { dialog.close(); }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = event.target.closest ? event.target.closest("dialog[data-reason-modal][open]") : null;
    var field = dialog ? dialog.querySelector(".has-error select, .has-error input, .has-error textarea") : null;
    if (field) { field.focus(); }
  });
  // A page opened on #<modal id> (a link from elsewhere, a reload) opens that modal.
  document.addEventListener("DOMContentLoaded", function () {
    var id = window.location.hash.slice(1);
    var dialog = id ? document.getElementById(id) : null;
    if (dialog && dialog.hasAttribute("data-reason-modal")) { openDialog(dialog); }
  });

  // ---------------------------------------------------------------- 写跟进
  // The phone bar's 写跟进: on the follow-ups tab, scroll to the form and focus it; elsewhere the
  // link loads the page on that tab at #followup-form.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-write-followup]");
    var form = link ? document.getElementById("followup-form") : null;
    if (!form) { return; }
    event.preventDefault();
    form.scrollIntoView({ block: "start" });
    var text = form.querySelector("textarea");
    if (text) { text.focus({ preventScroll: true }); }
  });

  // ---------------------------------------------------------------- quick picks
  // <button data-quick-pick="today-pm|tomorrow-am|in-3-days|next-monday" data-for="input id"
  // data-tz="Asia/Shanghai">: fill a datetime-local input with a time computed in the zone
  // the server reads the input in (the user's current time zone, crm/settings.py TIME_ZONE).
  function nowIn(zone) {
    // The wall-clock time of ``zone`` now, as a Date whose UTC fields hold it.
    var now = new Date();
    try {
      var parts = {};
      new Intl.DateTimeFormat("en-US", {
        timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit"
      }).formatToParts(now).forEach(function (p) { parts[p.type] = p.value; });
      return new Date(Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour % 24, +parts.minute));
    } catch (e) {
      return new Date(Date.UTC(now.getFullYear(), now.getMonth(), now.getDate(), now.getHours(), now.getMinutes()));
    }
  }
  function at(day, hour) {
    return new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), hour, 0));
  }
  function addDays(day, n) {
    return new Date(day.getTime() + n * 86400000);
  }
  function pick(kind, now) {
    if (kind === "today-pm") {
      if (now.getUTCHours() < 14) { return at(now, 14); }
      // Already past 14:00: two hours from now, on the next quarter hour.
      var later = new Date(now.getTime() + 2 * 3600000);
      var quarter = 15 * 60000;
      return new Date(Math.ceil(later.getTime() / quarter) * quarter);
    }
    if (kind === "tomorrow-am") { return at(addDays(now, 1), 9); }
    if (kind === "in-3-days") { return at(addDays(now, 3), 9); }
    if (kind === "next-monday") {
      var ahead = (8 - now.getUTCDay()) % 7 || 7;  // Monday is 1; on a Monday, the next one
      return at(addDays(now, ahead), 9);
    }
    return null;
  }
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function localValue(d) {
    return d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()) +
      "T" + two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
  }
  window.tidepoolQuickPick = function (kind, zone) {  // for the browser tests
    var when = pick(kind, nowIn(zone));
    return when ? localValue(when) : "";
  };
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-quick-pick]");
    if (!button) { return; }
    var input = document.getElementById(button.dataset.for);
    var when = pick(button.dataset.quickPick, nowIn(button.dataset.tz));
    if (!input || !when) { return; }
    event.preventDefault();
    input.value = localValue(when);
    input.dispatchEvent(new Event("change", { bubbles: true }));
    var group = button.closest("[data-quick-picks]");
    if (group) {
      group.querySelectorAll("[data-quick-pick]").forEach(function (b) {
        b.setAttribute("aria-pressed", b === button ? "true" : "false");
      });
    }
  });
})();
