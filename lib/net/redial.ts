// When to dial again, for the receiver and for each side of a chat. A peer that is not up yet is
// retried quickly at first, then less often; one that was there a moment ago (a restart, a
// glitch) is retried at once. A peer that keeps accepting and closing without a single usable
// frame (bad data, a wrong kind of peer) is retried as one that is down, or it would be dialled
// and reported twenty times a second.
import {
  BACKOFF_FIRST_MS,
  BACKOFF_MAX_MS,
  FRAMELESS_SESSIONS_BEFORE_BACKOFF,
  RETRY_AFTER_SESSION_MS,
} from '../base/limits';

export interface RedialStep {
  /** How long to wait before the next dial. */
  delayMs: number;
  /** Waiting longer and longer (a peer that is down, or sends nothing usable), not retrying at once. */
  backingOff: boolean;
  /** True the first time a run of failures makes the policy back off: say so, once. */
  startedBackingOff: boolean;
}

export class RedialPolicy {
  private backoffMs = BACKOFF_FIRST_MS;
  private failedDials = 0;
  private framelessSessions = 0;

  /** A dial failed (nothing listens, unreachable...). */
  dialFailed(): RedialStep {
    this.failedDials++;
    return { delayMs: this.grow(), backingOff: true, startedBackingOff: this.failedDials === 1 };
  }

  /**
   * A dial connected, but the peer closed before a session began (it chose another connection, or
   * was leaving): wait as after a failed dial, without announcing a peer that is down.
   */
  connectedWithoutSession(): RedialStep {
    return { delayMs: this.grow(), backingOff: true, startedBackingOff: false };
  }

  /** A session ended; `showedFrames` when it delivered at least one frame that could be shown. */
  sessionEnded(showedFrames: boolean): RedialStep {
    this.framelessSessions = showedFrames ? 0 : this.framelessSessions + 1;
    if (this.framelessSessions < FRAMELESS_SESSIONS_BEFORE_BACKOFF) {
      this.failedDials = 0;
      this.backoffMs = BACKOFF_FIRST_MS;
      return { delayMs: RETRY_AFTER_SESSION_MS, backingOff: false, startedBackingOff: false };
    }
    return { delayMs: this.grow(), backingOff: true, startedBackingOff: this.framelessSessions === FRAMELESS_SESSIONS_BEFORE_BACKOFF };
  }

  /** Sessions in a row that ended without a frame shown. */
  get frameless(): number {
    return this.framelessSessions;
  }

  private grow(): number {
    const delay = this.backoffMs;
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
    return delay;
  }
}
