// The page of the Flask impersonation demo. Every call goes to the webapp's backend through
// Guise's proxy, which adds the browser user's ticket to each request.
'use strict';

(function () {
  const WHOAMI_RETRY_MS = 500;
  const WHOAMI_GIVE_UP_MS = 30000;

  // Guise injects getWebAppBackendUrl into the page; the fallback gives the same URL, relative to
  // the page (/projects/KEY/webapps/SLUG/), for when the page is opened without it.
  function backendUrl(path) {
    if (typeof window.getWebAppBackendUrl === 'function') {
      return window.getWebAppBackendUrl(path);
    }
    return 'backend/' + String(path).replace(/^\/+/, '');
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  // The JSON of an answer, else {text} for plain text (Guise's proxy answers so itself), else null.
  async function bodyOf(response) {
    const text = await response.text().catch(function () { return ''; });
    try {
      return JSON.parse(text);
    } catch (e) {
      const plain = (response.headers.get('Content-Type') || '').startsWith('text/plain');
      return plain ? { text: text.trim().slice(0, 200) } : null;
    }
  }

  function describe(response, body) {
    if (body && body.error) {
      return body.error;
    }
    if (body && body.text) {
      return body.text;
    }
    return 'HTTP ' + response.status + (response.statusText ? ' ' + response.statusText : '');
  }

  async function loadWelcome() {
    const welcome = document.getElementById('welcome');
    const deadline = Date.now() + WHOAMI_GIVE_UP_MS;
    welcome.textContent = 'Loading…';
    for (;;) {
      let response;
      try {
        response = await fetch(backendUrl('whoami'), { credentials: 'same-origin' });
      } catch (e) {
        showWelcomeError(welcome, 'Could not reach the backend: ' + e.message);
        return;
      }
      // 503: the backend is still starting; Guise answers for it meanwhile.
      if (response.status === 503 && Date.now() + WHOAMI_RETRY_MS < deadline) {
        await sleep(WHOAMI_RETRY_MS);
        continue;
      }
      const body = await bodyOf(response);
      if (response.ok && body && (body.displayName || body.email)) {
        welcome.classList.remove('error');
        welcome.textContent = 'Welcome: ' + (body.displayName || body.email);
      } else if (response.status === 503) {
        showWelcomeError(welcome, 'The backend did not start within ' + WHOAMI_GIVE_UP_MS / 1000 + ' seconds.');
      } else {
        showWelcomeError(welcome, 'Could not tell who you are: ' + describe(response, body));
      }
      return;
    }
  }

  function showWelcomeError(welcome, message) {
    welcome.classList.add('error');
    welcome.textContent = message;
  }

  function showStatus(kind, text, jobId) {
    const status = document.getElementById('status');
    status.className = kind;
    status.textContent = text;
    if (jobId !== undefined && jobId !== null) {
      status.append(' · ');
      const link = document.createElement('a');
      link.href = '/jobs/' + encodeURIComponent(jobId);
      link.textContent = 'Open the job';
      status.append(link);
    }
  }

  async function build(button) {
    const buttons = document.querySelectorAll('.actions button');
    buttons.forEach(function (b) { b.disabled = true; });
    showStatus('pending', 'Starting the build…');
    try {
      const response = await fetch(backendUrl(button.dataset.path), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{}',
        credentials: 'same-origin',
      });
      const body = await bodyOf(response);
      if (response.ok && body && body.job_id !== undefined && body.job_id !== null) {
        const runAs = body.run_as || {};
        showStatus('ok', 'Job ' + body.job_id + ' queued, running as ' + (runAs.name || runAs.email), body.job_id);
      } else if (response.status === 403) {
        showStatus('error', 'Refused: ' + describe(response, body));
      } else {
        showStatus('error', 'The build did not start: ' + describe(response, body));
      }
    } catch (e) {
      showStatus('error', 'Could not reach the backend: ' + e.message);
    } finally {
      buttons.forEach(function (b) { b.disabled = false; });
    }
  }

  document.querySelectorAll('.actions button').forEach(function (button) {
    button.addEventListener('click', function () { build(button); });
  });
  loadWelcome();
})();
