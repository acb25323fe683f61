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

  // Shortcodes go where the caret was in the field they are for, by mouse or keyboard. Each field
  // remembers its caret (a text range for the editor) when it loses focus, so tabbing to a
  // shortcode button or to the field's "Insert shortcode" list keeps the place; a field never
  // visited gets the shortcode at its end, not at its start.
  var carets = new WeakMap();
  function rememberCaret(field) {
    if (field === editor) {
      var selection = window.getSelection();
      if (selection.rangeCount && editor.contains(selection.getRangeAt(0).commonAncestorContainer)) {
        carets.set(editor, selection.getRangeAt(0).cloneRange());
      }
    } else if (field.selectionStart != null) {
      carets.set(field, [field.selectionStart, field.selectionEnd]);
    }
  }
  form.querySelectorAll(".fic-shortcode-target").forEach(function (field) {
    field.addEventListener("focus", function () { lastTarget = field; });
    ["blur", "keyup", "mouseup", "input", "select"].forEach(function (name) {
      field.addEventListener(name, function () { rememberCaret(field); });
    });
  });
  function insertCode(target, code) {
    if (target === editor) {
      editor.focus();
      var range = carets.get(editor);
      var selection = window.getSelection();
      selection.removeAllRanges();
      if (range) {
        selection.addRange(range);
      } else {
        var end = document.createRange();
        end.selectNodeContents(editor);
        end.collapse(false);
        selection.addRange(end);
      }
      document.execCommand("insertText", false, code);
      rememberCaret(editor);
      syncBody();
    } else {
      var caret = carets.get(target) || [target.value.length, target.value.length];
      target.value = target.value.slice(0, caret[0]) + code + target.value.slice(caret[1]);
      target.focus();
      target.setSelectionRange(caret[0] + code.length, caret[0] + code.length);
      rememberCaret(target);
    }
    schedulePreview();
  }
  form.querySelectorAll(".fic-shortcode").forEach(function (button) {
    button.addEventListener("mousedown", function (event) { event.preventDefault(); });
    button.addEventListener("click", function () {
      var target = lastTarget || form.querySelector("input[name=subject]");
      insertCode(target, button.getAttribute("data-code"));
    });
  });
  form.querySelectorAll(".fic-insert").forEach(function (select) {
    select.hidden = false;
    select.addEventListener("change", function () {
      if (!select.value) { return; }
      var target = document.getElementById(select.getAttribute("data-target"));
      if (target === textarea) { target = editor; }
      var code = select.value;
      select.value = "";
      insertCode(target, code);
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
