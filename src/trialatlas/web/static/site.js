// Progressive enhancement only: every page works without this file.
// - Controls marked data-autosubmit submit their GET form when changed, and the form's
//   fallback button (data-autosubmit-button) is hidden.
// - GET forms leave empty fields out of the URL (the server would redirect there anyway).
// - "/" focuses the first search box, as many sites do.
(function () {
  "use strict";

  document.querySelectorAll("form[method=get]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var params = new URLSearchParams();
      new FormData(form).forEach(function (value, name) {
        if (typeof value === "string" && value.trim() !== "") params.append(name, value);
      });
      event.preventDefault();
      var query = params.toString();
      window.location.assign(form.action + (query ? "?" + query : ""));
    });
  });

  document.querySelectorAll("[data-autosubmit]").forEach(function (control) {
    var form = control.form;
    if (!form) return;
    form.querySelectorAll("[data-autosubmit-button]").forEach(function (button) {
      button.hidden = true;
    });
    control.addEventListener("change", function () {
      if (form.requestSubmit) form.requestSubmit();
      else form.submit();
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    var box = document.querySelector("input[type=search]");
    if (box) {
      event.preventDefault();
      box.focus();
    }
  });
})();
