// Shows every <time datetime> in the reader's own time zone (the server renders UTC).
(() => {
  const formats = {
    full: { weekday: "short", day: "2-digit", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" },
    time: { hour: "2-digit", minute: "2-digit", second: "2-digit" },
    day: { day: "2-digit", month: "short", year: "numeric" },
  };
  for (const el of document.querySelectorAll("time[datetime]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) continue;
    const style = formats[el.dataset.style] || formats.full;
    el.textContent = new Intl.DateTimeFormat(undefined, style).format(when);
  }
})();
