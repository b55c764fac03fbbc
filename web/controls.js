// @ts-check
// The controls both pages share: h (or the HUD button, or a tap on the picture) toggles the HUD,
// f (or its button) full screen, and on a page one can leave, q (or Escape outside full screen).

/** Enters full screen, or leaves it. */
function toggleFullscreen() {
  if (document.fullscreenElement) void document.exitFullscreen();
  else void document.documentElement.requestFullscreen().catch(() => {}); // refused without a user gesture: nothing to do
}

/**
 * Wires the keys, the #hud-button and #fullscreen-button, and a tap on `picture` (a phone has no h key).
 * @param {{ picture: HTMLElement, toggleHud: () => void, leave?: () => void }} actions
 */
export function wireControls({ picture, toggleHud, leave }) {
  window.addEventListener('keydown', (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === 'h') toggleHud();
    else if (event.key === 'f') toggleFullscreen();
    else if (leave && (event.key === 'q' || (event.key === 'Escape' && !document.fullscreenElement))) leave();
  });
  document.getElementById('hud-button')?.addEventListener('click', toggleHud);
  document.getElementById('fullscreen-button')?.addEventListener('click', toggleFullscreen);
  picture.addEventListener('click', toggleHud);
}
