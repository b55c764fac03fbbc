// @ts-check
// Full screen on f (or its button), for both pages.

/** Enters full screen, or leaves it. */
export function toggleFullscreen() {
  if (document.fullscreenElement) void document.exitFullscreen();
  else void document.documentElement.requestFullscreen().catch(() => {}); // refused without a user gesture: nothing to do
}
