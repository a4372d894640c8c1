// Gust's run inspector: a little plain JavaScript on server-rendered pages.
// Forms with data-confirm ask before they are sent.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
