/** Binary classification scores of a scorer's answers against the truth. */

/** Accuracy, precision, recall, F1 and balanced accuracy, with the counts. */
export interface ClassificationScores {
  readonly n: number;
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
  readonly accuracy: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly balancedAccuracy: number;
}

/** Scores predictions against labels (both 0/1). */
export function classificationScores(predicted: readonly number[], truth: readonly number[]): ClassificationScores {
  if (predicted.length !== truth.length) throw new Error('predictions and labels differ in length');
  let tp = 0, fp = 0, tn = 0, fn = 0;
  predicted.forEach((p, i) => {
    if (p === 1 && truth[i] === 1) tp++;
    else if (p === 1) fp++;
    else if (truth[i] === 1) fn++;
    else tn++;
  });
  const n = predicted.length;
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  const specificity = tn + fp ? tn / (tn + fp) : 0;
  return {
    n, tp, fp, tn, fn,
    accuracy: n ? (tp + tn) / n : 0,
    precision,
    recall,
    f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0,
    balancedAccuracy: (recall + specificity) / 2,
  };
}
