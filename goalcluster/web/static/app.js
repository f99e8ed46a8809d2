// Small comforts only; every page works without script.
document.addEventListener("DOMContentLoaded", () => {
  const messages = document.querySelector(".messages");
  if (messages) messages.scrollTop = messages.scrollHeight;
  for (const button of document.querySelectorAll("form button")) {
    button.form.addEventListener("submit", () => { button.disabled = true; });
  }
});
