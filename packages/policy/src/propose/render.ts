/**
 * Proposals as YAML for people and for `ward apply -f`: one stream, a comment with the evidence
 * before each document and each rule.
 */
import { Document } from 'yaml';
import type { ProposeResult } from './propose.ts';

/** Text for a comment: control characters (a line break would end it) become spaces. */
const oneLine = (text: string) => text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');

/**
 * The proposals as one YAML stream (`---` between documents), ready for `ward apply -f`, each
 * document and rule preceded by a comment with its evidence. Comments carry only names, counts
 * and times (no path or other observed free text) so nothing observed can break out of them.
 */
export function proposalsYaml(result: ProposeResult): string {
  return result.proposals
    .map((p) => {
      const doc = new Document(p.document);
      doc.commentBefore = [
        ` Proposed by \`ward propose\` from traffic ${result.since} to ${result.until}.`,
        ` Destination ${p.destination}${p.owner !== null ? `, owned by ${oneLine(p.owner)}` : ''}: review, apply, then \`ward promote ${p.destination}\`.`,
      ].join('\n');
      p.rules.forEach((r, i) => {
        const item = doc.getIn(['spec', 'rules', i], true) as
          | { commentBefore?: string }
          | undefined;
        if (item === undefined) return;
        item.commentBefore = r.evidence
          .map(
            (e) =>
              ` ${e.source}: ${e.calls} calls, ${e.firstSeen} to ${e.lastSeen} (${e.seenIn.join(', ')})${r.wholeEdge ? ', no method or path seen: the whole edge' : ''}`,
          )
          .join('\n');
      });
      return doc.toString({ lineWidth: 0 });
    })
    .join('---\n');
}
