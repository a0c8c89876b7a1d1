// svyazka front-end helpers. Plain JS, no build step.
// Needs static/vendor/bootstrap/bootstrap.bundle.min.js (window.bootstrap) loaded first.
// The CSRF header is set on <body> via hx-headers in the base template, not here.
(function () {
  'use strict';

  // --- Toasts --------------------------------------------------------------
  // Flash messages are rendered server-side as Bootstrap toasts inside #toasts;
  // HTMX responses may append more toasts there out-of-band.

  function showToasts() {
    const region = document.getElementById('toasts');
    if (!region || !window.bootstrap) return;
    region.querySelectorAll('.toast:not([data-toast-init])').forEach((el) => {
      el.dataset.toastInit = '1';
      // Remove hidden toasts so they do not pile up in the DOM.
      el.addEventListener('hidden.bs.toast', () => el.remove());
      // Hide after 5 s; a toast can opt out with data-bs-autohide="false".
      bootstrap.Toast.getOrCreateInstance(el, {
        autohide: el.dataset.bsAutohide !== 'false',
        delay: 5000,
      }).show();
    });
  }

  function addErrorToast(message) {
    const region = document.getElementById('toasts');
    if (!region) return;
    const toast = document.createElement('div');
    toast.className = 'toast align-items-center text-bg-danger border-0';
    toast.setAttribute('role', 'alert');
    toast.setAttribute('aria-live', 'assertive');
    toast.setAttribute('aria-atomic', 'true');

    const row = document.createElement('div');
    row.className = 'd-flex';
    const body = document.createElement('div');
    body.className = 'toast-body';
    body.textContent = message;
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'btn-close btn-close-white me-2 m-auto';
    close.setAttribute('data-bs-dismiss', 'toast');
    close.setAttribute('aria-label', document.body.dataset.closeLabel || 'Close');

    row.append(body, close);
    toast.append(row);
    region.append(toast);
    showToasts();
  }

  document.addEventListener('DOMContentLoaded', showToasts);
  document.addEventListener('htmx:afterSwap', showToasts);
  // Out-of-band swaps (e.g. with hx-swap="none") do not always fire afterSwap.
  document.addEventListener('htmx:oobAfterSwap', showToasts);

  // Failed HTMX requests: if the server sent HX-Trigger it handles the
  // feedback itself; otherwise show a generic error toast.
  document.addEventListener('htmx:responseError', (evt) => {
    const xhr = evt.detail.xhr;
    if (xhr && xhr.getResponseHeader('HX-Trigger')) return;
    const prefix = document.body.dataset.errorLabel || 'Request failed';
    addErrorToast(prefix + ' (' + (xhr ? xhr.status : '?') + ')');
  });

  // --- Copy to clipboard ---------------------------------------------------
  // <button data-copy="TEXT" data-copied-label="Copied">Copy</button>

  function copyText(text) {
    // navigator.clipboard needs a secure context (HTTPS or localhost);
    // self-hosted instances on plain HTTP fall back to execCommand.
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise((resolve, reject) => {
      const area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.style.position = 'fixed';
      area.style.opacity = '0';
      document.body.append(area);
      area.select();
      const ok = document.execCommand('copy');
      area.remove();
      ok ? resolve() : reject(new Error('copy failed'));
    });
  }

  document.addEventListener('click', (evt) => {
    const el = evt.target.closest('[data-copy]');
    if (!el) return;
    evt.preventDefault();
    copyText(el.dataset.copy).then(() => {
      if (el.dataset.copyOriginal === undefined) {
        el.dataset.copyOriginal = el.innerHTML;
      }
      el.textContent = el.dataset.copiedLabel || 'Copied';
      clearTimeout(el._copyTimer);
      el._copyTimer = setTimeout(() => {
        el.innerHTML = el.dataset.copyOriginal;
        delete el.dataset.copyOriginal;
      }, 1500);
    }).catch(() => { /* clipboard unavailable: leave the label unchanged */ });
  });
})();
