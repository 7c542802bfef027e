import backtrader as bt

from lstm_backtrader.strategies.lstm import LSTMForecast

# a user module: optstrategy workers import the strategy and analyzer by name


class Collect(bt.Analyzer):
    def start(self):
        self.rows = []

    def next(self):
        self.rows.append(float(self.strategy.fc.forecast[0]))

    def get_analysis(self):
        return {"forecasts": self.rows}


class Strat(bt.Strategy):
    params = (("model", None), ("threshold", 0.0))

    def __init__(self):
        self.fc = LSTMForecast(self.data, model=self.p.model)

    def next(self):
        if self.fc.forecast[0] > self.p.threshold and not self.position:
            self.buy(size=0.01)
