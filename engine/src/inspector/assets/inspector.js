// Gust's run inspector: a little plain JavaScript on server-rendered pages.

// Forms with data-confirm ask before they are sent.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Buttons with data-copy put the text (or value) of the element it names
// on the clipboard.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (button && navigator.clipboard) {
    const source = document.querySelector(button.dataset.copy);
    const text = source?.value ?? source?.textContent ?? "";
    navigator.clipboard.writeText(text).then(() => {
      button.textContent = "Copied";
    });
  }
});

// The runs page: rows of runs that arrive or change, pushed by the server
// (Server-Sent Events), until paused.
const table = document.querySelector("table[data-live]");
if (table) {
  const body = table.tBodies[0];
  const pause = document.querySelector("[data-pause]");
  const state = document.querySelector("[data-live-state]");
  let source = null;
  const start = () => {
    source = new EventSource(table.dataset.live);
    source.addEventListener("run", (event) => {
      const holder = document.createElement("tbody");
      holder.innerHTML = event.data;
      const row = holder.firstElementChild;
      const shown = body.querySelector(`tr[data-run="${row.dataset.run}"]`);
      if (shown) {
        shown.replaceWith(row);
      } else {
        body.prepend(row);
      }
    });
    source.addEventListener("gone", (event) => {
      body.querySelector(`tr[data-run="${event.data}"]`)?.remove();
    });
    source.addEventListener("missed", () => {
      state.textContent = " some updates were missed: reload";
    });
    state.textContent = " live";
  };
  const stop = () => {
    source.close();
    source = null;
    state.textContent = " paused";
  };
  pause.addEventListener("click", () => {
    if (source) {
      stop();
      pause.textContent = "Resume live updates";
      pause.setAttribute("aria-pressed", "true");
    } else {
      start();
      pause.textContent = "Pause live updates";
      pause.setAttribute("aria-pressed", "false");
    }
  });
  start();
}

// A run page of a run not yet ended: reloaded when its status changes.
const heading = document.querySelector("[data-live-run]");
if (heading) {
  const source = new EventSource(heading.dataset.liveRun);
  source.addEventListener("run", (event) => {
    if (event.data !== heading.dataset.status) {
      source.close();
      window.location.reload();
    }
  });
}
