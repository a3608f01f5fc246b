// The opportunity kanban (templates/opportunities/kanban.html): drag a card to another column.
// A drop posts to the stage-change view (opportunities:opportunity-stage, from=kanban) with
// the stage the card was in (expected_stage_id: a card moved meanwhile by someone else is
// refused); the answer is the board again (its sums). A refused move swaps nothing: the card
// stays where it was (it only moves when the server says so) and the message arrives out of
// band. A drop on 输单 opens the lost-reason dialog instead, with the card's id in it.
// Without JavaScript, and with a keyboard, each card's stage select and button do the same.
// CSP: no inline code; everything from data- attributes, delegated on document (the board is
// swapped after every move).
(function () {
  "use strict";

  var dragged = null;

  function board() { return document.querySelector("[data-kanban]"); }

  function columnOf(el) { return el && el.closest ? el.closest("[data-column]") : null; }

  function stageUrl(root, id) {
    return root.dataset.stageUrl.replace(/\/0\/stage\/$/, "/" + id + "/stage/");
  }

  function openLose(root, cardId, stageId) {
    var dialog = document.getElementById(root.dataset.loseDialog);
    var form = dialog ? dialog.querySelector("form") : null;
    if (!dialog || !form || typeof dialog.showModal !== "function") {
      // No dialog support: the opportunity's own page, on its lose dialog.
      window.location.href = root.dataset.stageUrl.replace(/0\/stage\/$/, cardId + "/") + "#lose-modal";
      return;
    }
    setLoseTarget(form, cardId, stageId);
    dialog.dataset.card = cardId;
    dialog.dataset.stage = stageId;
    if (!dialog.open) { dialog.showModal(); }
    var first = dialog.querySelector("select, textarea, input:not([type=hidden])");
    if (first) { first.focus(); }
  }

  function setLoseTarget(form, cardId, stageId) {
    var ids = form.querySelector('input[name="ids"]');
    if (!ids) {
      ids = document.createElement("input");
      ids.type = "hidden";
      ids.name = "ids";
      form.appendChild(ids);
    }
    ids.value = cardId;
    var expected = form.querySelector('input[name="expected_stage_id"]');
    if (!expected) {
      expected = document.createElement("input");
      expected.type = "hidden";
      expected.name = "expected_stage_id";
      form.appendChild(expected);
    }
    expected.value = stageId;
  }

  function move(root, card, column) {
    var target = column.dataset.column;
    var from = card.dataset.stageId;
    if (!target || target === from) { return; }
    if (column.dataset.kind === "lost") {
      openLose(root, card.dataset.card, from);
      return;
    }
    if (!window.htmx) { return; }
    card.classList.add("is-pending");
    window.htmx.ajax("POST", stageUrl(root, card.dataset.card), {
      source: card,
      target: "#kanban-board",
      swap: "outerHTML",
      values: { stage: target, expected_stage_id: from, from: "kanban" }
    });
  }

  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest ? event.target.closest("[data-card][draggable=true]") : null;
    if (!card) { return; }
    dragged = card;
    card.classList.add("is-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.card);
  });

  document.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("is-dragging"); }
    dragged = null;
    document.querySelectorAll(".kanban-col.is-over").forEach(function (col) { col.classList.remove("is-over"); });
  });

  document.addEventListener("dragover", function (event) {
    var column = columnOf(event.target);
    if (!dragged || !column || column.dataset.column === dragged.dataset.stageId) { return; }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    document.querySelectorAll(".kanban-col.is-over").forEach(function (col) {
      if (col !== column) { col.classList.remove("is-over"); }
    });
    column.classList.add("is-over");
  });

  document.addEventListener("drop", function (event) {
    var column = columnOf(event.target);
    var root = board();
    if (!dragged || !column || !root) { return; }
    event.preventDefault();
    column.classList.remove("is-over");
    move(root, dragged, column);
  });

  // A refused move (422): the card never left its column; shake it so the eye finds it.
  document.addEventListener("htmx:afterRequest", function (event) {
    var card = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("[data-card]") : null;
    if (!card) { return; }
    card.classList.remove("is-pending");
    if (!event.detail.successful || event.detail.xhr.status >= 400) {
      card.classList.add("is-refused");
      window.setTimeout(function () { card.classList.remove("is-refused"); }, 1200);
    }
  });

  // The card's stage select: 输单 opens the dialog rather than the opportunity's page.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest ? event.target.closest("[data-kanban-move]") : null;
    var root = board();
    if (!form || !root) { return; }
    var select = form.querySelector('select[name="stage"]');
    var card = form.closest("[data-card]");
    if (select && card && root.dataset.lostStage && select.value === root.dataset.lostStage) {
      event.preventDefault();
      openLose(root, card.dataset.card, card.dataset.stageId);
    }
  });

  // The dialog's form re-rendered after a refusal (422) loses the hidden ids: put them back
  // before each submission (capturing, before htmx reads the form).
  document.addEventListener("submit", function (event) {
    var dialog = event.target.closest ? event.target.closest("dialog[data-card]") : null;
    if (dialog) { setLoseTarget(event.target, dialog.dataset.card, dialog.dataset.stage); }
  }, true);
})();
