/**
 * The popup's input fields and the status it re-renders every 2 s.
 *
 * The popup shows the stored configuration (gateway and dashboard URL, block
 * list, …) in editable fields and refreshes its status periodically. A refresh
 * must never overwrite what the user is typing: a field the user edited keeps
 * its text until the user submits it (then it follows the stored value again),
 * and a focused field is never written.
 */

/** The part of an input element the guard touches. */
export interface FieldLike {
  value: string;
}

/** Tracks which fields the user edited; writes stored values only into the others. */
export class FieldGuard {
  private readonly edited = new Set<string>();

  /** The user typed in field `id` (its `input` event). */
  onInput(id: string): void {
    this.edited.add(id);
  }

  /** The worker stored what the user submitted from these fields: they follow the store again. */
  committed(...ids: string[]): void {
    for (const id of ids) this.edited.delete(id);
  }

  /** Whether the user has unsaved text in `id`. */
  isEdited(id: string): boolean {
    return this.edited.has(id);
  }

  /**
   * Show the stored `value` in `field` unless the user is editing it.
   *
   * @param focused - whether the field has the keyboard focus.
   * @returns true when the field was written.
   */
  render(id: string, field: FieldLike, value: string, focused: boolean): boolean {
    if (focused || this.edited.has(id) || field.value === value) return false;
    field.value = value;
    return true;
  }
}
