/* The send screen's small helpers: rich-text editor, shortcodes, recipient rows, live preview.
   Everything works without this file too (plain textarea, "Update preview" button). */
(function () {
  "use strict";
  var form = document.getElementById("fic-send-form");
  if (!form) { return; }
  var textarea = form.querySelector("textarea[name=body]");
  var editor = form.querySelector(".fic-editor");
  var toolbar = form.querySelector(".fic-toolbar");
  var preview = document.getElementById("fic-preview");
  var counter = document.getElementById("fic-sms-counter");
  var lastTarget = form.querySelector("input[name=subject]");

  // The owner's saved text goes into a live DOM: drop what could run before showing it.
  function cleanHtml(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    doc.querySelectorAll("script,style,iframe,object,embed,link,meta").forEach(function (n) { n.remove(); });
    doc.querySelectorAll("*").forEach(function (n) {
      Array.prototype.slice.call(n.attributes).forEach(function (a) {
        if (/^on/i.test(a.name) || /^\s*javascript:/i.test(a.value)) { n.removeAttribute(a.name); }
      });
    });
    return doc.body.innerHTML;
  }

  editor.innerHTML = cleanHtml(textarea.value);
  editor.hidden = false;
  toolbar.hidden = false;
  textarea.hidden = true;
  function syncBody() { textarea.value = editor.innerHTML; }
  editor.addEventListener("input", function () { syncBody(); schedulePreview(); });
  toolbar.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-command]");
    if (!button) { return; }
    editor.focus();
    var command = button.getAttribute("data-command");
    var value = null;
    if (command === "createLink") {
      value = window.prompt("URL", "https://");
      if (!value) { return; }
    }
    document.execCommand(command, false, value);
    syncBody();
    schedulePreview();
  });

  form.querySelectorAll(".fic-shortcode-target").forEach(function (field) {
    field.addEventListener("focus", function () { lastTarget = field; });
  });
  form.querySelectorAll(".fic-shortcode").forEach(function (button) {
    button.addEventListener("mousedown", function (event) { event.preventDefault(); });
    button.addEventListener("click", function () {
      var code = button.getAttribute("data-code");
      var target = lastTarget || form.querySelector("input[name=subject]");
      if (target === editor) {
        editor.focus();
        document.execCommand("insertText", false, code);
        syncBody();
      } else {
        var start = target.selectionStart == null ? target.value.length : target.selectionStart;
        var end = target.selectionEnd == null ? start : target.selectionEnd;
        target.value = target.value.slice(0, start) + code + target.value.slice(end);
        target.focus();
        target.setSelectionRange(start + code.length, start + code.length);
      }
      schedulePreview();
    });
  });

  function removeRow(event) {
    var row = event.target.closest(".fic-list-row");
    var list = row.parentNode;
    if (list.querySelectorAll(".fic-list-row").length > 1) { row.remove(); }
    else { row.querySelector("input").value = ""; }
    schedulePreview();
  }
  form.querySelectorAll(".fic-remove").forEach(function (b) { b.addEventListener("click", removeRow); });
  // The blank row is there for browsers without JavaScript; here "Add" makes one when needed.
  form.querySelectorAll(".fic-list").forEach(function (list) {
    var rows = list.querySelectorAll(".fic-list-row");
    if (rows.length > 1 && !rows[rows.length - 1].querySelector("input").value) {
      rows[rows.length - 1].remove();
    }
  });
  form.querySelectorAll(".fic-add").forEach(function (button) {
    button.addEventListener("click", function () {
      var list = form.querySelector('.fic-list[data-name="' + button.getAttribute("data-list") + '"]');
      var rows = list.querySelectorAll(".fic-list-row");
      var row = rows[rows.length - 1].cloneNode(true);
      row.querySelector("input").value = "";
      row.querySelector(".fic-remove").addEventListener("click", removeRow);
      list.appendChild(row);
      row.querySelector("input").focus();
    });
  });

  var timer = null;
  function schedulePreview() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refreshPreview, 300);
  }
  function refreshPreview() {
    syncBody();
    var data = new FormData(form);
    fetch(form.getAttribute("data-preview-url"), {method: "POST", body: data, credentials: "same-origin"})
      .then(function (response) { return response.text(); })
      .then(function (html) {
        preview.innerHTML = html;
        var count = preview.querySelector(".fic-preview-sms-count");
        if (count && counter) { counter.textContent = count.textContent; }
      })
      .catch(function () { /* keep the last preview; sending still works */ });
  }
  form.querySelectorAll("input[name=subject], textarea[name=sms_text]").forEach(function (f) {
    f.addEventListener("input", schedulePreview);
  });
  form.addEventListener("submit", syncBody);
  var previewButton = form.querySelector(".fic-preview-button");
  if (previewButton) {
    previewButton.hidden = true;
  }
})();
