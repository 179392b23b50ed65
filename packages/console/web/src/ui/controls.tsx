/**
 * Form controls the views share: a labelled checkbox, a select over fixed choices and the code
 * text area. Each hands its handler the new value, not the DOM event.
 */
import type { ComponentChildren } from 'preact';

export function Check(props: {
  testid?: string;
  class?: string;
  checked: boolean;
  onChange: (on: boolean) => void;
  children: ComponentChildren;
}) {
  return (
    <label class={props.class}>
      <input
        type="checkbox"
        data-testid={props.testid}
        checked={props.checked}
        onChange={(e) => props.onChange((e.target as HTMLInputElement).checked)}
      />{' '}
      {props.children}
    </label>
  );
}

/** A select of `[value, text]` choices; with a `caption`, inside a label that shows it first. */
export function Choice(props: {
  testid: string;
  caption?: string;
  label?: string;
  value: string;
  onChange: (value: string) => void;
  choices: readonly (readonly [string, string])[];
}) {
  const attrs = {
    'aria-label': props.label,
    'data-testid': props.testid,
    value: props.value,
    onChange: (e: Event) => props.onChange((e.target as HTMLSelectElement).value),
  };
  const options = props.choices.map(([value, text]) => (
    <option key={value} value={value}>
      {text}
    </option>
  ));
  if (props.caption === undefined) return <select {...attrs}>{options}</select>;
  return (
    <label>
      {props.caption} <select {...attrs}>{options}</select>
    </label>
  );
}

/** A monospace text area for YAML or JSON, spell-checking off. */
export function CodeArea(props: {
  id?: string;
  testid: string;
  rows: number;
  value: string;
  onInput: (value: string) => void;
}) {
  return (
    <textarea
      id={props.id}
      class="pol-code"
      data-testid={props.testid}
      rows={props.rows}
      spellcheck={false}
      value={props.value}
      onInput={(e) => props.onInput((e.target as HTMLTextAreaElement).value)}
    />
  );
}
