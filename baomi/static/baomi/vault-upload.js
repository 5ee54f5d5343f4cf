/* Document upload: drag-and-drop onto the drop zone, progress bar, JSON result.
   Loaded as a static file (the CSP forbids inline script). Without JavaScript the
   form still posts normally. */
(function () {
  "use strict";

  function pretty(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1048576) return (bytes / 1024).toFixed(1) + " KiB";
    if (bytes < 1073741824) return (bytes / 1048576).toFixed(1) + " MiB";
    return (bytes / 1073741824).toFixed(2) + " GiB";
  }

  function setup(form) {
    var zone = form.querySelector("[data-dropzone]");
    var input = form.querySelector("[data-file-input]");
    var label = form.querySelector("[data-drop-label]");
    var bar = form.querySelector("[data-progress]");
    var text = form.querySelector("[data-progress-text]");
    var error = form.querySelector("[data-upload-error]");
    var button = form.querySelector("button[type=submit]");

    function showName() {
      if (input.files && input.files.length) {
        label.textContent = input.files[0].name + " · " + pretty(input.files[0].size);
        zone.classList.add("has-file");
      }
    }
    input.addEventListener("change", showName);
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (ev) {
        ev.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (ev) {
      ev.preventDefault();
      if (ev.dataTransfer && ev.dataTransfer.files.length) {
        input.files = ev.dataTransfer.files;
        showName();
      }
    });

    form.addEventListener("submit", function (ev) {
      if (!window.FormData || !window.XMLHttpRequest) return;
      ev.preventDefault();
      error.hidden = true;
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        bar.hidden = false;
        bar.value = Math.round((e.loaded / e.total) * 100);
        text.textContent = pretty(e.loaded) + " / " + pretty(e.total);
      });
      xhr.addEventListener("load", function () {
        var data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
        if (xhr.status >= 200 && xhr.status < 300 && data && data.url) {
          bar.value = 100;
          window.location.assign(data.url);
          return;
        }
        button.disabled = false;
        error.textContent = (data && data.message) || ("HTTP " + xhr.status);
        error.hidden = false;
      });
      xhr.addEventListener("error", function () {
        button.disabled = false;
        error.textContent = form.getAttribute("data-network-error") || "Network error";
        error.hidden = false;
      });
      button.disabled = true;
      xhr.send(new FormData(form));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-vault-upload]").forEach(setup);
  });
})();
