// Small comforts only; every page works without script.
document.addEventListener("DOMContentLoaded", () => {
  const messages = document.querySelector(".messages");
  if (messages) messages.scrollTop = messages.scrollHeight;
  for (const button of document.querySelectorAll("form button")) {
    button.form.addEventListener("submit", () => { button.disabled = true; });
  }
  const running = document.querySelector(".progress[data-after]");
  if (running) follow(running);
});

// A running job: its progress lines as the server sends them (a bar's new line replaces its last
// one), the cancel sent without leaving the page, and the page again once the job has ended.
function follow(panel) {
  const lines = panel.querySelector(".lines");
  const status = panel.querySelector(".status");
  const barName = (line) => line.split(": ")[0];
  const show = (kind, text) => {
    const last = lines.lastElementChild;
    if (kind === "bar" && last && last.className === "bar" && barName(last.textContent) === barName(text)) {
      last.textContent = text;
    } else {
      const item = document.createElement("li");
      item.className = kind;
      item.textContent = text;
      lines.append(item);
    }
    lines.scrollTop = lines.scrollHeight;
  };
  const source = new EventSource(`/progress?after=${encodeURIComponent(panel.dataset.after)}`);
  source.addEventListener("say", (event) => show("say", event.data));
  source.addEventListener("bar", (event) => show("bar", event.data));
  source.addEventListener("end", (event) => {
    source.close();
    status.textContent = event.data;
    window.location.reload();
  });
  const cancel = panel.querySelector("form.cancel");
  if (cancel) {
    cancel.addEventListener("submit", (event) => {
      event.preventDefault();
      status.textContent = "stopping";
      const body = new URLSearchParams(new FormData(cancel));
      fetch(cancel.action, { method: "POST", body, redirect: "manual" });
    });
  }
}
