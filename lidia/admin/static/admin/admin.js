// The dashboard's little bit of JavaScript: confirmations, the call timeline, and the voice playground,
// which posts the form (with its CSRF token) and plays the WAV that comes back.
"use strict";

document.addEventListener("click", (event) => {
  const question = event.target.closest("[data-confirm]")?.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

// The call's timeline: each line jumps the whole-call player to where it was said.
document.addEventListener("click", (event) => {
  const seek = event.target.closest("[data-seek]");
  const player = document.getElementById("whole-call");
  if (!seek || !player) return;
  player.currentTime = Number(seek.dataset.seek);
  player.play().catch(() => {});
});

const speakForm = document.getElementById("speak-form");
if (speakForm) {
  const status = document.getElementById("speak-status");
  const player = document.getElementById("speak-audio");
  speakForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "Синтез…";
    try {
      const response = await fetch(speakForm.action, {
        method: "POST",
        body: new FormData(speakForm),
        credentials: "same-origin",
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        throw new Error(body.error?.message || body.detail || `HTTP ${response.status}`);
      }
      const blob = await response.blob();
      if (player.src) URL.revokeObjectURL(player.src);
      player.src = URL.createObjectURL(blob);
      status.textContent = "Готово";
      await player.play().catch(() => {});
    } catch (error) {
      status.textContent = `Ошибка: ${error.message}`;
    }
  });
}
